// Policies made for tests and benchmarks: the network that a PolicyMetadata
// describes (obs_dim -> hidden_sizes... -> mean and log-std heads of act_dim),
// with values chosen by the caller, as a snapshot file or as the v1.Policy
// message. A separate library (sac_policy_testing), so that no product binary
// carries it.
#ifndef SAC_POLICY_POLICY_TESTING_H_
#define SAC_POLICY_POLICY_TESTING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "policy/safetensors.h"
#include "sac/v1/policy.pb.h"

namespace sac {

// The value of element `index` (row-major) of the tensor `name`. Called for
// every element in network order (policy.fc0.weight, policy.fc0.bias, ...,
// policy.mean.*, policy.log_std.*; weight before bias), so a generator that
// draws from one random stream gives the same values whichever form is made.
using TensorValues = std::function<float(const std::string& name, size_t index)>;

// Values drawn uniformly from [-limit, limit] by one std::mt19937_64 seeded
// with `seed`, in call order.
TensorValues UniformValues(uint64_t seed, float limit);

// The parameter tensors of the network `metadata` describes, in network order,
// with their shapes ([out, in] weights, [out] biases).
std::vector<std::pair<std::string, std::vector<int64_t>>> PolicyTensorShapes(
    const v1::PolicyMetadata& metadata);

// The snapshot file (tensors and metadata) and the message of that network.
SafetensorsFile MakePolicySnapshot(const v1::PolicyMetadata& metadata, const TensorValues& value);
v1::Policy MakePolicyMessage(const v1::PolicyMetadata& metadata, const TensorValues& value);

}  // namespace sac

#endif  // SAC_POLICY_POLICY_TESTING_H_

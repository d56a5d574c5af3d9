// A policy snapshot's network, checked: the layers of the tanh-squashed
// Gaussian policy with the action transform and log-std clamp resolved from its
// metadata. The one place that decides whether tensors and metadata form a
// valid policy; PolicyMlp (the forward pass) and the ONNX export
// (policy/onnx_export.h) both start from it, so they accept the same files.
//
// Tensors by name (docs/learner.md): hidden layers policy.fc{i}.weight [out, in]
// and policy.fc{i}.bias [out], i = 0 .. len(hidden_sizes) - 1, ReLU between
// them; heads policy.mean.* and policy.log_std.* ([act_dim, last hidden]).
// Everything must be finite, shapes must follow the metadata, and
// action_high > action_low in every dimension. Plain data: no BLAS, no LibTorch.
#ifndef SAC_POLICY_POLICY_WEIGHTS_H_
#define SAC_POLICY_POLICY_WEIGHTS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/safetensors.h"
#include "sac/v1/policy.pb.h"

namespace sac {

// y = x W^T + b over a batch of rows.
struct PolicyLayer {
  std::string name;  // the tensors' prefix, e.g. "policy.fc0"
  int in = 0;
  int out = 0;
  std::vector<float> weight;  // [out, in], row-major
  std::vector<float> bias;    // [out]
};

// The log-std clamp when the metadata does not give a valid range
// (log_std_min < log_std_max): the learner's defaults.
inline constexpr float kDefaultLogStdMin = -20.0f;
inline constexpr float kDefaultLogStdMax = 2.0f;

struct PolicyWeights {
  v1::PolicyMetadata metadata;
  int obs_dim = 0;
  int act_dim = 0;
  std::vector<PolicyLayer> hidden;  // ReLU after each
  PolicyLayer mean;
  PolicyLayer log_std;
  // a = tanh(u) * action_scale + action_bias: scale = (high - low) / 2,
  // bias = (high + low) / 2, each [act_dim].
  std::vector<float> action_scale;
  std::vector<float> action_bias;
  // log_std is clamped to [log_std_min, log_std_max] before exp.
  float log_std_min = kDefaultLogStdMin;
  float log_std_max = kDefaultLogStdMax;
};

// Errors (INVALID_ARGUMENT) name the tensor or metadata key that is missing,
// misshapen or not finite.
absl::StatusOr<PolicyWeights> PolicyWeightsFromTensors(
    const std::map<std::string, SafetensorsTensor>& tensors, v1::PolicyMetadata metadata);
// From a snapshot file's contents (metadata in the safetensors header).
absl::StatusOr<PolicyWeights> PolicyWeightsFromSafetensors(const SafetensorsFile& file);

}  // namespace sac

#endif  // SAC_POLICY_POLICY_WEIGHTS_H_

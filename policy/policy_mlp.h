// The actor's policy: the learner's tanh-squashed Gaussian policy network,
// forward pass only, batched over environments, over OpenBLAS (no LibTorch in
// the actor; see docs/operations.md for the measurement behind that choice).
//
// Parameters by name (docs/learner.md): hidden layers policy.fc{i}.weight
// [out, in] and policy.fc{i}.bias with ReLU; heads policy.mean.* and
// policy.log_std.*. log_std is clamped to [log_std_min, log_std_max]; the action
// is tanh(u) * scale + bias with scale = (high - low) / 2, bias = (high + low) / 2,
// where u = mean (deterministic) or mean + exp(log_std) * noise (stochastic).
//
// Not thread-safe: one PolicyMlp per acting thread (it keeps scratch buffers).
#ifndef SAC_POLICY_POLICY_MLP_H_
#define SAC_POLICY_POLICY_MLP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/safetensors.h"
#include "sac/v1/policy.pb.h"

namespace sac {

class PolicyMlp {
 public:
  // From the weights and metadata the learner publishes. Checks names, shapes,
  // finiteness and consistency with the metadata.
  static absl::StatusOr<std::unique_ptr<PolicyMlp>> FromPolicy(const v1::Policy& policy);
  // From a snapshot file's contents (metadata in the safetensors header).
  static absl::StatusOr<std::unique_ptr<PolicyMlp>> FromSafetensors(const SafetensorsFile& file);

  int obs_dim() const { return obs_dim_; }
  int act_dim() const { return act_dim_; }
  uint64_t version() const { return metadata_.version(); }
  const v1::PolicyMetadata& metadata() const { return metadata_; }

  // obs: [n, obs_dim] row-major; actions: [n, act_dim], in env units.
  // Deterministic: the mean action. Otherwise a sample, noise drawn from `rng`.
  void Act(std::span<const float> obs, int n, bool deterministic, std::mt19937_64* rng,
           std::span<float> actions);

 private:
  struct Layer {
    int in = 0, out = 0;
    std::vector<float> weight;  // [out, in]
    std::vector<float> bias;    // [out]
  };
  PolicyMlp() = default;
  static absl::StatusOr<std::unique_ptr<PolicyMlp>> Build(
      const std::map<std::string, SafetensorsTensor>& tensors, v1::PolicyMetadata metadata);
  // y[n, out] = x[n, in] * W^T + b
  static void Dense(const Layer& layer, const float* x, int n, float* y);

  int obs_dim_ = 0;
  int act_dim_ = 0;
  std::vector<Layer> hidden_;
  Layer mean_, log_std_;
  std::vector<float> scale_, bias_;
  float log_std_min_ = -20, log_std_max_ = 2;
  v1::PolicyMetadata metadata_;
  std::vector<float> a_, b_, mu_, ls_;  // scratch
  std::normal_distribution<float> normal_{0.f, 1.f};
};

}  // namespace sac

#endif  // SAC_POLICY_POLICY_MLP_H_

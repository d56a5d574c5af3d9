// The actor's policy: the learner's tanh-squashed Gaussian policy network,
// forward pass only, batched over environments, over OpenBLAS (no LibTorch in
// the actor; see docs/operations.md for the measurement behind that choice).
//
// Parameters by name (docs/learner.md, checked by policy/policy_weights.h):
// hidden layers policy.fc{i}.weight [out, in] and policy.fc{i}.bias with ReLU;
// heads policy.mean.* and policy.log_std.*. log_std is clamped to [log_std_min, log_std_max]; the
// action is tanh(u) * scale + bias with scale = (high - low) / 2, bias = (high + low) / 2, where u
// = mean (deterministic) or mean + exp(log_std) * noise (stochastic).
//
// Not thread-safe: one PolicyMlp per acting thread (it keeps scratch buffers).
#ifndef SAC_POLICY_POLICY_MLP_H_
#define SAC_POLICY_POLICY_MLP_H_

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/policy_weights.h"
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

  int obs_dim() const { return weights_.obs_dim; }
  int act_dim() const { return weights_.act_dim; }
  uint64_t version() const { return weights_.metadata.version(); }
  const v1::PolicyMetadata& metadata() const { return weights_.metadata; }

  // obs: [n, obs_dim] row-major; actions: [n, act_dim], in env units.
  // Deterministic: the mean action. Otherwise a sample, noise drawn from `rng`.
  void Act(std::span<const float> obs, int n, bool deterministic, std::mt19937_64* rng,
           std::span<float> actions);

 private:
  explicit PolicyMlp(PolicyWeights weights) : weights_(std::move(weights)) {}
  static std::unique_ptr<PolicyMlp> Build(PolicyWeights weights);
  // y[n, out] = x[n, in] * W^T + b
  static void Dense(const PolicyLayer& layer, const float* x, int n, float* y);

  const PolicyWeights weights_;
  std::vector<float> a_, b_, mu_, ls_;  // scratch
  std::normal_distribution<float> normal_{0.f, 1.f};
};

}  // namespace sac

#endif  // SAC_POLICY_POLICY_MLP_H_

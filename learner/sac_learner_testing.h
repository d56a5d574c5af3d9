// Entry points of the learner core that only tests and the parity tools use
// (tests/learner/learner_tool.cc, the golden and resume tests): an update with
// given noise, the learner's own policy forward, every tensor by name, the
// squashed-Gaussian kernel alone. A separate library (sac_learner_testing), so
// that no product binary carries them. No LibTorch here.
#ifndef SAC_LEARNER_SAC_LEARNER_TESTING_H_
#define SAC_LEARNER_SAC_LEARNER_TESTING_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/host_batch.h"
#include "learner/sac_learner.h"

namespace sac::learner {

enum class PolicyMode { kDeterministic, kStochastic };

class SacLearnerTesting {
 public:
  // One update as SacLearner::Update, with the standard-normal policy noise
  // given: NoiseDraws() blocks of [batch_size, act_dim] (v1: the actions at s;
  // v2: the actions at s', then at s). For parity tests against other
  // implementations.
  static absl::StatusOr<UpdateMetrics> UpdateWithNoise(SacLearner& learner, const HostBatch& batch,
                                                       std::span<const float> noise);
  static int NoiseDraws(const SacLearner& learner);

  // Actions for `n` observations (row-major [n, obs_dim]) into `actions`
  // ([n, act_dim], env units), computed by the learner's own networks.
  // kDeterministic: tanh(mean) scaled to the bounds. kStochastic: the
  // reparameterized sample with `noise` ([n, act_dim]) or, when `noise` is
  // empty, noise from the learner's evaluation generator (separate from the
  // training noise). `log_probs` ([n], may be empty) receives log pi(a|s) of the
  // returned actions (stochastic mode only).
  static absl::Status PolicyForward(SacLearner& learner, std::span<const float> obs, int64_t n,
                                    PolicyMode mode, std::span<const float> noise,
                                    std::span<float> actions, std::span<float> log_probs = {});

  // Every network, target network, temperature and optimizer moment, one array
  // per torch.nn.Linear-style tensor (q1.fc0.weight, v_target.fc1.bias,
  // adam.exp_avg.q1.fc0.weight, ...): the names tests/learner/sac_reference.py uses.
  static std::vector<NamedArray> AllTensors(const SacLearner& learner);
};

// The squashed Gaussian of the policy: for row-major [n, act_dim] mean, log_std
// (already clamped) and noise eps, action = tanh(mean + exp(log_std) * eps) *
// scale + bias and its log-density (the Gaussian's minus sum log(scale * (1 -
// tanh(u)^2)), computed stably as 2 * (log 2 - u - softplus(-2u))). The same
// code (learner/sac_kernels.h) as the learner's update and stochastic policy
// forward on CPU, in float32.
struct SquashedSample {
  std::vector<float> action;    // [n, act_dim]
  std::vector<float> log_prob;  // [n]
};
absl::StatusOr<SquashedSample> SampleSquashedGaussian(std::span<const float> mean,
                                                      std::span<const float> log_std,
                                                      std::span<const float> eps,
                                                      std::span<const float> scale,
                                                      std::span<const float> bias, int64_t n);

}  // namespace sac::learner

#endif  // SAC_LEARNER_SAC_LEARNER_TESTING_H_

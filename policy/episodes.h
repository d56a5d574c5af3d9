// RunEpisodes: the one episode loop that evaluates a policy. The learner's
// Evaluator (learner/evaluator.cc) and `sacctl eval` call it; the actor does not
// (it trains through auto-resets and never stops at an episode's end).
//
// It resets an EnvBatch, acts with a PolicyMlp (one batched forward per step)
// until every env of the batch has finished its first episode (terminated or
// truncated), and returns each env's return, unscaled. The envs keep stepping
// (auto-reset) until the last one finishes; later episodes do not count.
//
// Not thread-safe: the batch and the policy belong to the calling thread for
// the call.
#ifndef SAC_POLICY_EPISODES_H_
#define SAC_POLICY_EPISODES_H_

#include <functional>
#include <random>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "envs/env_batch.h"
#include "policy/policy_mlp.h"

namespace sac {

// What the loop shows its hook before each step.
struct EpisodeStep {
  const envs::EnvBatch& batch;      // observations() are what the policy acted on
  std::span<const float> actions;   // [num_envs, act_dim], about to be stepped
  std::span<const double> returns;  // per env: NaN while its first episode runs
};
// Called before each step; a non-OK status ends the loop with that status
// (cancellation, a failed write).
using EpisodeHook = std::function<absl::Status(const EpisodeStep& step)>;

// Resets `batch`, then steps it with `policy`'s actions (the mean action when
// `deterministic`, else samples with noise from `rng`) until every env has
// finished one episode. Returns one return per env (num_envs of them).
// FAILED_PRECONDITION when the policy's sizes are not the batch's; errors of
// Reset/Step and of `hook` as they are.
absl::StatusOr<std::vector<double>> RunEpisodes(envs::EnvBatch& batch, PolicyMlp& policy,
                                                bool deterministic, std::mt19937_64& rng,
                                                const EpisodeHook& hook = nullptr);

// Population mean and standard deviation (divided by n), min and max of
// `returns` (not empty).
struct ReturnStats {
  double mean = 0, std = 0, min = 0, max = 0;
};
ReturnStats SummarizeReturns(std::span<const double> returns);

}  // namespace sac

#endif  // SAC_POLICY_EPISODES_H_

// EnvBatch: N environments of one Gymnasium v5 MuJoCo task, stepped together.
// This is what an actor holds: one call steps every env with a row of an
// [N, act_dim] float32 action block and writes preallocated [N, obs_dim] float32
// buffers. Episodes that end are reset automatically, keeping the true final
// observation for the transition. Per-env seeds are seed + i; given the seed and
// the actions, everything is deterministic (also with worker threads).
//
// Per env i and Step, the buffers read (row i):
//   prev_observations()  the observation the action was applied to (s)
//   next_observations()  the observation the step produced (s'): the true final
//                        observation when the episode ended (terminated or
//                        truncated), so truncated transitions can bootstrap from it
//   observations()       what to act on next: next_observations() unless the
//                        episode ended, then the first observation of the new
//                        episode (auto-reset already happened)
//   rewards()            r (float32, the task's own unscaled reward)
//   terminated()         1 when the task ended the episode (no bootstrap)
//   truncated()          1 when the time limit ended it (bootstrap); a step may be both
//   episode_returns()/episode_lengths()  return and length of the episode this step
//                        belonged to, up to and including it: the finished episode's
//                        totals when it ended here
//   reward_terms()       [N, num_reward_terms()] the reward's terms (Gymnasium's info)
// All spans stay valid for the batch's life and change only in Reset()/Step().
//
// Threading: Step/Reset are called from one thread at a time; with threads > 1
// the batch splits its envs over owned worker threads (the caller is one of them).
// Actions outside [action_low, action_high] are accepted as Gymnasium accepts them:
// MuJoCo clamps the control to the actuator's ctrlrange inside the physics, and
// the control cost sees the action as given (docs/envs.md).
//
// This header does not include MuJoCo.
#ifndef SAC_ENVS_ENV_BATCH_H_
#define SAC_ENVS_ENV_BATCH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sac::v1 {
class EnvConfig;
}

namespace sac::envs {

class MujocoEnv;
class WorkerPool;

class EnvBatch {
 public:
  // `task`: a Gymnasium id (unknown: NotFound listing the known ones).
  // `num_envs` >= 1; env i draws its reset noise from seed + i.
  // `models_dir`: empty for the default beside the executable (models_dir.h).
  // `threads` >= 1 (capped at num_envs). `max_episode_steps` 0: the task's own.
  // The envs are not reset yet: call Reset() before the first Step().
  static absl::StatusOr<std::unique_ptr<EnvBatch>> Create(absl::string_view task, int num_envs,
                                                          uint64_t seed,
                                                          absl::string_view models_dir = "",
                                                          int threads = 1,
                                                          int max_episode_steps = 0);
  // The same from an EnvConfig (task, num_envs, seed, models_dir, threads,
  // max_episode_steps).
  static absl::StatusOr<std::unique_ptr<EnvBatch>> Create(const sac::v1::EnvConfig& config);
  ~EnvBatch();

  const std::string& task() const { return task_; }
  int num_envs() const { return num_envs_; }
  int obs_dim() const { return obs_dim_; }
  int act_dim() const { return act_dim_; }
  int max_episode_steps() const { return max_episode_steps_; }
  int num_threads() const;
  // The action space, float32 as Gymnasium's Box (Humanoid: 0.4f).
  absl::Span<const float> action_low() const { return action_low_; }
  absl::Span<const float> action_high() const { return action_high_; }
  const std::vector<std::string>& reward_term_names() const { return reward_term_names_; }
  int num_reward_terms() const { return static_cast<int>(reward_term_names_.size()); }
  const std::string& models_dir() const { return models_dir_; }

  // Resets every env (each continues its own random stream) and writes
  // observations(); clears the flags and episode totals.
  absl::Status Reset();

  // Steps every env with its row of `actions` ([num_envs * act_dim], row-major).
  // Errors, with no state change: FailedPrecondition before the first Reset();
  // InvalidArgument for a wrong size or a NaN/inf entry (the message names the
  // env and the action index).
  absl::Status Step(absl::Span<const float> actions);

  absl::Span<const float> observations() const { return obs_; }
  absl::Span<const float> prev_observations() const { return prev_obs_; }
  absl::Span<const float> next_observations() const { return next_obs_; }
  absl::Span<const float> rewards() const { return rewards_; }
  absl::Span<const uint8_t> terminated() const { return terminated_; }
  absl::Span<const uint8_t> truncated() const { return truncated_; }
  absl::Span<const double> episode_returns() const { return episode_returns_; }
  absl::Span<const int32_t> episode_lengths() const { return episode_lengths_; }
  absl::Span<const double> reward_terms() const { return reward_terms_; }

 private:
  EnvBatch() = default;
  void StepEnv(int i, const float* action);
  void ResetEnv(int i);
  // Calls fn(i) for every env, split over the worker pool.
  void ForEachEnv(const std::function<void(int)>& fn);

  std::string task_;
  std::string models_dir_;
  int num_envs_ = 0, obs_dim_ = 0, act_dim_ = 0, max_episode_steps_ = 0;
  std::vector<float> action_low_, action_high_;
  std::vector<std::string> reward_term_names_;
  std::vector<std::unique_ptr<MujocoEnv>> envs_;
  std::unique_ptr<WorkerPool> pool_;
  bool was_reset_ = false;

  std::vector<float> obs_, prev_obs_, next_obs_, rewards_;
  std::vector<uint8_t> terminated_, truncated_;
  std::vector<double> episode_returns_, reward_terms_;
  std::vector<int32_t> episode_lengths_;
  std::vector<double> running_returns_;
  std::vector<int32_t> running_lengths_;
  std::vector<double> scratch_obs_;  // [N, obs_dim] float64 observations from the envs
};

}  // namespace sac::envs

#endif  // SAC_ENVS_ENV_BATCH_H_

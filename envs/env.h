// One environment: a task bound to a shared model, its own mjData, its own random
// stream, and Gymnasium's TimeLimit (truncation). Observations are float64 as in
// Gymnasium. EnvBatch holds many of these; the C API (envs_c_api.h) exposes one
// for the parity tests against Gymnasium. Internal to envs/ (includes MuJoCo).
// Not thread-safe: one thread at a time per MujocoEnv (different envs sharing one
// model may step concurrently; mj_step only reads mjModel).
#ifndef SAC_ENVS_ENV_H_
#define SAC_ENVS_ENV_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "envs/mujoco_model.h"
#include "envs/random.h"
#include "envs/task.h"

namespace sac::envs {

// A loaded model with its bound task, shared read-only by the envs of a batch.
struct LoadedTask {
  MjModelPtr model;
  std::unique_ptr<Task> task;
  const TaskSpec& spec() const { return task->spec(); }
};
// Finds `task_name`, loads <models_dir>/<model_file>, checks sizes, binds the task.
absl::StatusOr<std::shared_ptr<const LoadedTask>> LoadTask(absl::string_view task_name,
                                                           const std::string& models_dir);

struct EnvStepResult {
  double reward = 0;
  bool terminated = false;
  bool truncated = false;  // elapsed steps reached max_episode_steps
};

class MujocoEnv {
 public:
  // `max_episode_steps` 0: the task's own limit.
  static absl::StatusOr<std::unique_ptr<MujocoEnv>> Create(std::shared_ptr<const LoadedTask> task,
                                                           uint64_t seed,
                                                           int max_episode_steps = 0);

  const TaskSpec& spec() const { return task_->spec(); }
  const mjModel* model() const { return task_->model.get(); }
  const mjData* data() const { return data_.get(); }
  int max_episode_steps() const { return max_episode_steps_; }
  int elapsed_steps() const { return elapsed_steps_; }
  int num_reward_terms() const { return static_cast<int>(spec().reward_terms.size()); }

  // Restarts this env's random stream from `seed` (Gymnasium's reset(seed=...)).
  void Seed(uint64_t seed) { rng_ = EnvRandom(seed); }

  // Gymnasium's reset: mj_resetData, reset noise from this env's stream,
  // set_state (copy + mj_forward); writes obs[obs_dim]; restarts the time limit.
  void Reset(double* obs);

  // Gymnasium's reset with a given initial state instead of noise: mj_resetData
  // (which also clears the solver's warm start, time, ctrl), then set_state(qpos,
  // qvel): copy and mj_forward; writes obs[obs_dim]; restarts the time limit. The
  // parity tests put Gymnasium's post-reset state into ours with it.
  absl::Status ResetToState(absl::Span<const double> qpos, absl::Span<const double> qvel,
                            double* obs);

  // One step with action[act_dim] (unvalidated here: EnvBatch and the C API check
  // sizes and finiteness). Writes obs[obs_dim] and terms[num_reward_terms()].
  EnvStepResult Step(const float* action, double* obs, double* terms);

 private:
  MujocoEnv(std::shared_ptr<const LoadedTask> task, MjDataPtr data, uint64_t seed,
            int max_episode_steps)
      : task_(std::move(task)),
        data_(std::move(data)),
        rng_(seed),
        max_episode_steps_(max_episode_steps) {}

  std::shared_ptr<const LoadedTask> task_;
  MjDataPtr data_;
  EnvRandom rng_;
  int max_episode_steps_;
  int elapsed_steps_ = 0;
};

}  // namespace sac::envs

#endif  // SAC_ENVS_ENV_H_

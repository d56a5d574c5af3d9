#include "envs/env.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sac::envs {

absl::StatusOr<std::shared_ptr<const LoadedTask>> LoadTask(absl::string_view task_name,
                                                           const std::string& models_dir) {
  ASSIGN_OR_RETURN(const TaskEntry* entry, FindTask(task_name));
  auto loaded = std::make_shared<LoadedTask>();
  ASSIGN_OR_RETURN(loaded->model, LoadModel(absl::StrCat(models_dir, "/", entry->spec.model_file)));
  ASSIGN_OR_RETURN(loaded->task, entry->Bind(loaded->model.get()));
  return std::shared_ptr<const LoadedTask>(std::move(loaded));
}

absl::StatusOr<std::unique_ptr<MujocoEnv>> MujocoEnv::Create(std::shared_ptr<const LoadedTask> task,
                                                             uint64_t seed, int max_episode_steps) {
  if (task == nullptr) return absl::InvalidArgumentError("MujocoEnv: no task");
  if (max_episode_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_episode_steps must be >= 0, got ", max_episode_steps));
  }
  if (max_episode_steps == 0) max_episode_steps = task->spec().shape.max_episode_steps;
  ASSIGN_OR_RETURN(MjDataPtr data, MakeData(task->model.get()));
  return std::unique_ptr<MujocoEnv>(
      new MujocoEnv(std::move(task), std::move(data), seed, max_episode_steps));
}

void MujocoEnv::Reset(double* obs) {
  const mjModel* m = model();
  mjData* d = data_.get();
  mj_resetData(m, d);
  // qpos = qpos0 + noise, qvel = noise, written in place (they read m->qpos0,
  // not d), then set_state's mj_forward.
  task_->task->SampleResetState(m, rng_, d->qpos, d->qvel);
  mj_forward(m, d);
  task_->task->Observe(m, d, obs);
  elapsed_steps_ = 0;
}

absl::Status MujocoEnv::ResetToState(absl::Span<const double> qpos, absl::Span<const double> qvel,
                                     double* obs) {
  const mjModel* m = model();
  if (static_cast<int>(qpos.size()) != m->nq || static_cast<int>(qvel.size()) != m->nv) {
    return absl::InvalidArgumentError(absl::StrCat("ResetToState: want qpos[", m->nq, "] qvel[",
                                                   m->nv, "], got qpos[", qpos.size(), "] qvel[",
                                                   qvel.size(), "]"));
  }
  mjData* d = data_.get();
  mj_resetData(m, d);
  std::copy(qpos.begin(), qpos.end(), d->qpos);
  std::copy(qvel.begin(), qvel.end(), d->qvel);
  mj_forward(m, d);
  task_->task->Observe(m, d, obs);
  elapsed_steps_ = 0;
  return absl::OkStatus();
}

EnvStepResult MujocoEnv::Step(const float* action, double* obs, double* terms) {
  const StepOutcome out = task_->task->Step(model(), data_.get(), action, obs, terms);
  ++elapsed_steps_;
  return {out.reward, out.terminated, elapsed_steps_ >= max_episode_steps_};
}

}  // namespace sac::envs

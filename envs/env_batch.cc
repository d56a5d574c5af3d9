#include "envs/env_batch.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "envs/env.h"
#include "envs/models_dir.h"
#include "envs/worker_pool.h"
#include "sac/v1/config_common.pb.h"

namespace sac::envs {

absl::StatusOr<std::unique_ptr<EnvBatch>> EnvBatch::Create(absl::string_view task, int num_envs,
                                                           uint64_t seed,
                                                           absl::string_view models_dir,
                                                           int threads, int max_episode_steps) {
  if (num_envs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_envs must be >= 1, got ", num_envs));
  }
  if (threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("threads must be >= 1, got ", threads));
  }
  if (max_episode_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_episode_steps must be >= 0, got ", max_episode_steps));
  }
  RETURN_IF_ERROR(FindTask(task).status());
  ASSIGN_OR_RETURN(std::string dir, ResolveModelsDir(models_dir));
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedTask> loaded, LoadTask(task, dir));

  std::unique_ptr<EnvBatch> batch(new EnvBatch());
  const TaskSpec& spec = loaded->spec();
  const mjModel* m = loaded->model.get();
  batch->task_ = std::string(spec.shape.name);
  batch->models_dir_ = dir;
  batch->num_envs_ = num_envs;
  batch->obs_dim_ = spec.shape.obs_dim;
  batch->act_dim_ = spec.shape.act_dim;
  batch->reward_term_names_ = spec.reward_terms;
  for (ptrdiff_t i = 0; i < m->nu; ++i) {
    // Gymnasium: Box(low, high) from actuator_ctrlrange cast to float32.
    batch->action_low_.push_back(static_cast<float>(m->actuator_ctrlrange[2 * i]));
    batch->action_high_.push_back(static_cast<float>(m->actuator_ctrlrange[2 * i + 1]));
  }
  for (int i = 0; i < num_envs; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<MujocoEnv> env,
                     MujocoEnv::Create(loaded, seed + static_cast<uint64_t>(i), max_episode_steps));
    batch->envs_.push_back(std::move(env));
  }
  batch->max_episode_steps_ = batch->envs_[0]->max_episode_steps();
  const size_t n = num_envs, obs = spec.shape.obs_dim;
  batch->obs_.assign(n * obs, 0.f);
  batch->prev_obs_.assign(n * obs, 0.f);
  batch->next_obs_.assign(n * obs, 0.f);
  batch->scratch_obs_.assign(n * obs, 0.0);
  batch->rewards_.assign(n, 0.f);
  batch->terminated_.assign(n, 0);
  batch->truncated_.assign(n, 0);
  batch->episode_returns_.assign(n, 0.0);
  batch->episode_lengths_.assign(n, 0);
  batch->running_returns_.assign(n, 0.0);
  batch->running_lengths_.assign(n, 0);
  batch->reward_terms_.assign(n * spec.reward_terms.size(), 0.0);
  batch->pool_ = std::make_unique<WorkerPool>(std::min(threads, num_envs));
  return batch;
}

absl::StatusOr<std::unique_ptr<EnvBatch>> EnvBatch::Create(const sac::v1::EnvConfig& config) {
  return Create(config.task(), static_cast<int>(config.num_envs()), config.seed(),
                config.models_dir(), static_cast<int>(config.threads()),
                static_cast<int>(config.max_episode_steps()));
}

EnvBatch::~EnvBatch() = default;

int EnvBatch::num_threads() const { return pool_->num_threads(); }

void EnvBatch::ForEachEnv(const std::function<void(int)>& fn) {
  const int parts = pool_->num_threads();
  pool_->Run([&](int part) {
    // Contiguous slices: part p steps envs [N p / T, N (p + 1) / T).
    const int begin = static_cast<int>(static_cast<int64_t>(num_envs_) * part / parts);
    const int end = static_cast<int>(static_cast<int64_t>(num_envs_) * (part + 1) / parts);
    for (int i = begin; i < end; ++i) fn(i);
  });
}

void EnvBatch::ResetEnv(int i) {
  double* scratch = scratch_obs_.data() + static_cast<size_t>(i) * obs_dim_;
  envs_[i]->Reset(scratch);
  float* row = obs_.data() + static_cast<size_t>(i) * obs_dim_;
  for (int k = 0; k < obs_dim_; ++k) row[k] = static_cast<float>(scratch[k]);
  running_returns_[i] = 0;
  running_lengths_[i] = 0;
}

absl::Status EnvBatch::Reset() {
  ForEachEnv([this](int i) { ResetEnv(i); });
  std::fill(terminated_.begin(), terminated_.end(), 0);
  std::fill(truncated_.begin(), truncated_.end(), 0);
  std::fill(rewards_.begin(), rewards_.end(), 0.f);
  std::fill(episode_returns_.begin(), episode_returns_.end(), 0.0);
  std::fill(episode_lengths_.begin(), episode_lengths_.end(), 0);
  was_reset_ = true;
  return absl::OkStatus();
}

void EnvBatch::StepEnv(int i, const float* action) {
  const size_t row = static_cast<size_t>(i) * obs_dim_;
  double* scratch = scratch_obs_.data() + row;
  double* terms = reward_terms_.data() + static_cast<size_t>(i) * reward_term_names_.size();
  const EnvStepResult r = envs_[i]->Step(action, scratch, terms);
  float* next = next_obs_.data() + row;
  for (int k = 0; k < obs_dim_; ++k) next[k] = static_cast<float>(scratch[k]);
  rewards_[i] = static_cast<float>(r.reward);
  terminated_[i] = r.terminated;
  truncated_[i] = r.truncated;
  running_returns_[i] += r.reward;
  running_lengths_[i] += 1;
  episode_returns_[i] = running_returns_[i];
  episode_lengths_[i] = running_lengths_[i];
  if (r.terminated || r.truncated) {
    ResetEnv(i);
  } else {
    std::copy(next, next + obs_dim_, obs_.data() + row);
  }
}

absl::Status EnvBatch::Step(absl::Span<const float> actions) {
  if (!was_reset_) {
    return absl::FailedPreconditionError("EnvBatch::Step before the first Reset()");
  }
  const size_t want = static_cast<size_t>(num_envs_) * act_dim_;
  if (actions.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(task_, ": actions must be [num_envs=", num_envs_,
                                                   ", act_dim=", act_dim_, "] = ", want,
                                                   " floats, got ", actions.size()));
  }
  for (size_t j = 0; j < want; ++j) {
    if (!std::isfinite(actions[j])) {
      return absl::InvalidArgumentError(absl::StrCat(task_, ": action of env ", j / act_dim_,
                                                     " at index ", j % act_dim_, " is ", actions[j],
                                                     " (must be finite)"));
    }
  }
  std::copy(obs_.begin(), obs_.end(), prev_obs_.begin());
  const float* a = actions.data();
  ForEachEnv([this, a](int i) { StepEnv(i, a + static_cast<size_t>(i) * act_dim_); });
  return absl::OkStatus();
}

}  // namespace sac::envs

#include "envs/envs_c_api.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "envs/env.h"

struct SacEnv {
  std::unique_ptr<sac::envs::MujocoEnv> env;
};

namespace {

void SetError(char* err, int err_len, const std::string& message) {
  if (err == nullptr || err_len <= 0) return;
  std::strncpy(err, message.c_str(), static_cast<size_t>(err_len) - 1);
  err[err_len - 1] = '\0';
}

}  // namespace

extern "C" {

const char* sac_envs_known_tasks(void) {
  static const std::string* names =
      new std::string(absl::StrJoin(sac::envs::KnownTaskNames(), ","));
  return names->c_str();
}

const char* sac_envs_mujoco_version(void) { return mj_versionString(); }

SacEnv* sac_env_create(const char* task, const char* models_dir, uint64_t seed,
                       int max_episode_steps, char* err, int err_len) {
  if (task == nullptr || models_dir == nullptr) {
    SetError(err, err_len, "task and models_dir must not be NULL");
    return nullptr;
  }
  auto loaded = sac::envs::LoadTask(task, models_dir);
  if (!loaded.ok()) {
    SetError(err, err_len, loaded.status().ToString());
    return nullptr;
  }
  auto env = sac::envs::MujocoEnv::Create(*std::move(loaded), seed, max_episode_steps);
  if (!env.ok()) {
    SetError(err, err_len, env.status().ToString());
    return nullptr;
  }
  return new SacEnv{*std::move(env)};
}

void sac_env_destroy(SacEnv* env) { delete env; }

void sac_env_dims(const SacEnv* env, int* obs_dim, int* act_dim, int* nq, int* nv,
                  int* num_reward_terms, int* max_episode_steps) {
  const auto& spec = env->env->spec();
  if (obs_dim) *obs_dim = spec.shape.obs_dim;
  if (act_dim) *act_dim = spec.shape.act_dim;
  if (nq) *nq = env->env->model()->nq;
  if (nv) *nv = env->env->model()->nv;
  if (num_reward_terms) *num_reward_terms = env->env->num_reward_terms();
  if (max_episode_steps) *max_episode_steps = env->env->max_episode_steps();
}

const char* sac_env_reward_term(const SacEnv* env, int i) {
  const auto& terms = env->env->spec().reward_terms;
  if (i < 0 || i >= static_cast<int>(terms.size())) return nullptr;
  return terms[i].c_str();
}

void sac_env_action_bounds(const SacEnv* env, float* low, float* high) {
  const mjModel* m = env->env->model();
  for (ptrdiff_t i = 0; i < m->nu; ++i) {
    low[i] = static_cast<float>(m->actuator_ctrlrange[2 * i]);
    high[i] = static_cast<float>(m->actuator_ctrlrange[2 * i + 1]);
  }
}

void sac_env_seed(SacEnv* env, uint64_t seed) { env->env->Seed(seed); }

void sac_env_reset(SacEnv* env, double* obs) { env->env->Reset(obs); }

int sac_env_set_state(SacEnv* env, const double* qpos, const double* qvel, double* obs, char* err,
                      int err_len) {
  const mjModel* m = env->env->model();
  absl::Status status = env->env->ResetToState(absl::MakeConstSpan(qpos, m->nq),
                                               absl::MakeConstSpan(qvel, m->nv), obs);
  if (!status.ok()) {
    SetError(err, err_len, status.ToString());
    return -1;
  }
  return 0;
}

void sac_env_get_state(const SacEnv* env, double* qpos, double* qvel) {
  const mjModel* m = env->env->model();
  const mjData* d = env->env->data();
  std::memcpy(qpos, d->qpos, sizeof(double) * m->nq);
  std::memcpy(qvel, d->qvel, sizeof(double) * m->nv);
}

int sac_env_step(SacEnv* env, const float* action, double* obs, double* reward, double* terms,
                 int* terminated, int* truncated, char* err, int err_len) {
  const int act_dim = env->env->spec().shape.act_dim;
  for (int i = 0; i < act_dim; ++i) {
    if (!std::isfinite(action[i])) {
      SetError(err, err_len, absl::StrCat("action[", i, "] is ", action[i], " (must be finite)"));
      return -1;
    }
  }
  const sac::envs::EnvStepResult r = env->env->Step(action, obs, terms);
  *reward = r.reward;
  *terminated = r.terminated ? 1 : 0;
  *truncated = r.truncated ? 1 : 0;
  return 0;
}

}  // extern "C"

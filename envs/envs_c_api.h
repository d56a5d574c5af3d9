/* A C ABI over one environment (MujocoEnv), built as libsac_envs_c.so, so that
 * Python (ctypes) can drive our C++ tasks step by step beside Gymnasium: the
 * parity tests in tests/python/test_env_parity.py use it. Observations and
 * reward terms are float64, as Gymnasium's. Functions returning int return 0 on
 * success and -1 on error, with the message in err[err_len] when err is not
 * NULL. A handle is used by one thread at a time. */
#ifndef SAC_ENVS_ENVS_C_API_H_
#define SAC_ENVS_ENVS_C_API_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SacEnv SacEnv;

/* Known task names, comma separated (static storage). */
const char* sac_envs_known_tasks(void);
/* The linked MuJoCo's version string (static storage). */
const char* sac_envs_mujoco_version(void);

/* Loads <models_dir>/<model file> for `task`; max_episode_steps 0: the task's.
 * NULL on error. */
SacEnv* sac_env_create(const char* task, const char* models_dir, uint64_t seed,
                       int max_episode_steps, char* err, int err_len);
void sac_env_destroy(SacEnv* env);

/* Sizes; any pointer may be NULL. */
void sac_env_dims(const SacEnv* env, int* obs_dim, int* act_dim, int* nq, int* nv,
                  int* num_reward_terms, int* max_episode_steps);
/* Name of reward term i (static for the handle's life), NULL when out of range. */
const char* sac_env_reward_term(const SacEnv* env, int i);
/* The action bounds, float32 [act_dim] each. */
void sac_env_action_bounds(const SacEnv* env, float* low, float* high);

/* Restarts the env's random stream from `seed` (as Gymnasium's reset(seed=...)). */
void sac_env_seed(SacEnv* env, uint64_t seed);
/* Reset with noise from the env's stream; obs[obs_dim]. */
void sac_env_reset(SacEnv* env, double* obs);
/* Reset to a given state: mj_resetData, then set_state(qpos[nq], qvel[nv]) with
 * mj_forward (what Gymnasium's reset does after drawing its noise); obs[obs_dim]. */
int sac_env_set_state(SacEnv* env, const double* qpos, const double* qvel, double* obs, char* err,
                      int err_len);
/* Copies qpos[nq] and qvel[nv] out. */
void sac_env_get_state(const SacEnv* env, double* qpos, double* qvel);
/* One step. action[act_dim] must be finite. Writes obs[obs_dim], *reward,
 * terms[num_reward_terms], *terminated, *truncated (0/1). */
int sac_env_step(SacEnv* env, const float* action, double* obs, double* reward, double* terms,
                 int* terminated, int* truncated, char* err, int err_len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SAC_ENVS_ENVS_C_API_H_ */

// A task is one of the nine Gymnasium v5 MuJoCo environments, restated in C++
// from ../shared/reference/mujoco/TASKS.md (Gymnasium 1.4.0): a small spec
// (model file, frame skip, sizes, bounds, time limit, reward term names) plus its
// reset and step functions over one (mjModel, mjData) pair. Batching, seeding,
// time limits and auto-reset live in MujocoEnv / EnvBatch, not here.
//
// Internal to envs/ (includes MuJoCo). A Task object is bound to one loaded model
// (it caches body ids) and is stateless otherwise: its const methods may run on
// many mjData at once from many threads.
#ifndef SAC_ENVS_TASK_H_
#define SAC_ENVS_TASK_H_

#include <mujoco/mujoco.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/task_shape.h"
#include "envs/random.h"

namespace sac::envs {

struct TaskSpec {
  // Name, sizes, action bounds, frame skip, time limit: the task's entry in
  // common/task_shape.h (their one home; Bind checks the model against it).
  TaskShape shape;
  std::string model_file;  // file name inside the models dir
  int nq = 0, nv = 0;      // expected sizes of the model (checked at load)
  // Gymnasium's info keys of the reward terms, in the order Task::Step writes them.
  std::vector<std::string> reward_terms;
  // Whether the task reads what mj_rnePostConstraint computes (cacc, cfrc_int,
  // cfrc_ext): Ant and Humanoid (cfrc_ext). Gymnasium calls it after every step
  // for every task; the others never read its outputs and the dynamics do not
  // depend on them, so they skip it (the parity tests show identical results).
  bool reads_rne_post = false;
};

// What one env step produced besides the observation and the reward terms.
struct StepOutcome {
  double reward = 0;
  bool terminated = false;
};

class Task {
 public:
  explicit Task(TaskSpec spec) : spec_(std::move(spec)) {}
  virtual ~Task() = default;
  const TaskSpec& spec() const { return spec_; }

  // Writes the reset state (Gymnasium's reset_model before set_state):
  // qpos[nq] = qpos0 + noise, qvel[nv] = noise (init_qvel is zero), drawing from
  // `rng` in Gymnasium's order (qpos first). Reads only the model.
  virtual void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                                double* qvel) const = 0;

  // Writes the observation [obs_dim] from the current `data` as it stands (no
  // forward pass of its own).
  virtual void Observe(const mjModel* m, const mjData* d, double* obs) const = 0;

  // One env step: reads the "before" quantities, sets ctrl = action (unclipped),
  // runs frame_skip mj_step and one mj_rnePostConstraint (SimulateFrames), then
  // writes obs[obs_dim] and the reward terms[reward_terms.size()] (as Gymnasium's
  // info reports them: costs negative) and returns reward and termination.
  virtual StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                           double* terms) const = 0;

 protected:
  // Gymnasium's do_simulation: ctrl = action as given (float -> double, exact;
  // MuJoCo clamps to ctrlrange internally when ctrllimited), frame_skip mj_step,
  // then mj_rnePostConstraint (cacc, cfrc_int, cfrc_ext) when the task reads them
  // (spec().reads_rne_post). No mj_forward after.
  void SimulateFrames(const mjModel* m, mjData* d, const float* action) const;
  // dt = timestep * frame_skip, the denominator of every velocity in a reward.
  double Dt(const mjModel* m) const { return m->opt.timestep * spec_.shape.frame_skip; }

 private:
  TaskSpec spec_;
};

// numpy's np.sum over a contiguous 1-D array (its pairwise summation, blocks of 8
// below 128 elements), so that sums match Gymnasium's bit for bit.
double NumpySum(const double* x, int n);
float NumpySum(const float* x, int n);
// np.sum(np.square(x)) for float32 x, in float32 (what Gymnasium's control costs
// compute when actions arrive as float32).
float SumSquaresF32(const float* x, int n);
// np.sum(np.square(x)) for float64 x.
double SumSquares(const double* x, int n);

// The registry of tasks.
struct TaskEntry {
  using MakeFn =
      std::function<absl::StatusOr<std::unique_ptr<Task>>(const TaskSpec&, const mjModel*)>;
  TaskSpec spec;
  MakeFn make;
  // Binds the task to a model loaded from spec.model_file, after checking that
  // the model's sizes (nq, nv, nu) are the spec's and its actuators' ctrlrange
  // (as float32) is the shape's action bounds.
  absl::StatusOr<std::unique_ptr<Task>> Bind(const mjModel* m) const;
};
// The entry of `name`, or NotFound listing every known task.
absl::StatusOr<const TaskEntry*> FindTask(absl::string_view name);
// The nine names, in DESIGN.md's order (common/task_shape.h's).
std::vector<std::string> KnownTaskNames();

}  // namespace sac::envs

#endif  // SAC_ENVS_TASK_H_

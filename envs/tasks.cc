// The nine Gymnasium v5 MuJoCo tasks (gymnasium/envs/mujoco/*_v5.py, 1.4.0, with
// default arguments), and their registry. Arithmetic follows Gymnasium's order
// and precision so that results match bit for bit on the same MuJoCo binary:
// control costs of float32 actions are float32 (numpy keeps float32 when a Python
// float multiplies a float32 sum), sums are numpy's pairwise sums, and every
// quantity MuJoCo computes before integration (xpos, xipos, site_xpos, cinert,
// cvel, qfrc_actuator, qfrc_constraint, cfrc_ext) is read as mj_step left it,
// i.e. one physics step stale, exactly as Gymnasium reads it.
#include <algorithm>
#include <cmath>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "envs/task.h"

namespace sac::envs {
namespace {

// np.clip for one value (NaN passes through as NaN).
inline double Clip(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

void CopyClipped(const double* src, int n, double lo, double hi, double* dst) {
  for (int i = 0; i < n; ++i) dst[i] = Clip(src[i], lo, hi);
}

// Draws n values of U(low, high) into out[i] = base[i] + u (numpy: base + uniform(size=n)).
void AddUniform(EnvRandom& rng, const double* base, int n, double scale, double* out) {
  for (int i = 0; i < n; ++i) out[i] = base[i] + rng.Uniform(-scale, scale);
}
// init_qvel is zeros after mj_makeData.
void UniformQvel(EnvRandom& rng, int nv, double scale, double* qvel) {
  for (int i = 0; i < nv; ++i) qvel[i] = 0.0 + rng.Uniform(-scale, scale);
}
void NormalQvel(EnvRandom& rng, int nv, double scale, double* qvel) {
  for (int i = 0; i < nv; ++i) qvel[i] = 0.0 + scale * rng.Normal();
}

absl::StatusOr<int> BodyId(const mjModel* m, const char* name) {
  const int id = mj_name2id(m, mjOBJ_BODY, name);
  if (id < 0) return absl::InvalidArgumentError(absl::StrCat("model has no body '", name, "'"));
  return id;
}

// ---------------------------------------------------------------- HalfCheetah-v5
class HalfCheetah final : public Task {
 public:
  using Task::Task;
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, kNoise, qpos);
    NormalQvel(rng, m->nv, kNoise, qvel);
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    std::copy(d->qpos + 1, d->qpos + m->nq, obs);
    std::copy(d->qvel, d->qvel + m->nv, obs + m->nq - 1);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    const double x_before = d->qpos[0];
    SimulateFrames(m, d, action);
    const double x_velocity = (d->qpos[0] - x_before) / Dt(m);
    Observe(m, d, obs);
    const double forward = 1.0 * x_velocity;
    const float ctrl_cost = 0.1f * SumSquaresF32(action, m->nu);
    terms[0] = forward;
    terms[1] = -ctrl_cost;
    return {forward - ctrl_cost, false};
  }

 private:
  static constexpr double kNoise = 0.1;
};

// ---------------------------------------------------------------- Hopper-v5 / Walker2d-v5
// Both: reward = forward + healthy - ctrl with weights 1, 1, 0.001; obs = qpos[1:],
// clip(qvel, -10, 10); reset noise U(-0.005, 0.005) on qpos and qvel.
class PlanarWalker : public Task {
 public:
  using Task::Task;
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, kNoise, qpos);
    UniformQvel(rng, m->nv, kNoise, qvel);
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    std::copy(d->qpos + 1, d->qpos + m->nq, obs);
    CopyClipped(d->qvel, m->nv, -10.0, 10.0, obs + m->nq - 1);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    const double x_before = d->qpos[0];
    SimulateFrames(m, d, action);
    const double x_velocity = (d->qpos[0] - x_before) / Dt(m);
    Observe(m, d, obs);
    const bool healthy = IsHealthy(m, d);
    const double forward = 1.0 * x_velocity;
    const double healthy_reward = healthy ? 1.0 : 0.0;
    const float ctrl_cost = 0.001f * SumSquaresF32(action, m->nu);
    terms[0] = forward;
    terms[1] = -ctrl_cost;
    terms[2] = healthy_reward;
    return {(forward + healthy_reward) - ctrl_cost, !healthy};
  }

 protected:
  virtual bool IsHealthy(const mjModel* m, const mjData* d) const = 0;

 private:
  static constexpr double kNoise = 0.005;
};

class Hopper final : public PlanarWalker {
 public:
  using PlanarWalker::PlanarWalker;

 private:
  // All strict: state[2:] = [qpos[2:], qvel] in (-100, 100), z in (0.7, inf),
  // angle in (-0.2, 0.2). NaN anywhere is unhealthy.
  bool IsHealthy(const mjModel* m, const mjData* d) const override {
    for (int i = 2; i < m->nq; ++i) {
      if (!(-100.0 < d->qpos[i] && d->qpos[i] < 100.0)) return false;
    }
    for (int i = 0; i < m->nv; ++i) {
      if (!(-100.0 < d->qvel[i] && d->qvel[i] < 100.0)) return false;
    }
    const double z = d->qpos[1], angle = d->qpos[2];
    return 0.7 < z && z < INFINITY && -0.2 < angle && angle < 0.2;
  }
};

class Walker2d final : public PlanarWalker {
 public:
  using PlanarWalker::PlanarWalker;

 private:
  // Strict: z in (0.8, 2.0), angle in (-1, 1); no state-range check.
  bool IsHealthy(const mjModel*, const mjData* d) const override {
    const double z = d->qpos[1], angle = d->qpos[2];
    return 0.8 < z && z < 2.0 && -1.0 < angle && angle < 1.0;
  }
};

// ---------------------------------------------------------------- Ant-v5
class Ant final : public Task {
 public:
  using Task::Task;
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, kNoise, qpos);
    NormalQvel(rng, m->nv, kNoise, qvel);
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    double* o = std::copy(d->qpos + 2, d->qpos + m->nq, obs);
    o = std::copy(d->qvel, d->qvel + m->nv, o);
    CopyClipped(d->cfrc_ext + 6, 6 * (m->nbody - 1), -1.0, 1.0, o);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    // The main body is body 1 (torso); its xpos is as mj_step left it (stale).
    const double x_before = d->xpos[3 * kMainBody];
    SimulateFrames(m, d, action);
    const double x_velocity = (d->xpos[3 * kMainBody] - x_before) / Dt(m);
    Observe(m, d, obs);
    bool healthy = 0.2 <= d->qpos[2] && d->qpos[2] <= 1.0;
    for (int i = 0; i < m->nq; ++i) healthy = healthy && std::isfinite(d->qpos[i]);
    for (int i = 0; i < m->nv; ++i) healthy = healthy && std::isfinite(d->qvel[i]);
    const double forward = x_velocity * 1;
    const double healthy_reward = healthy ? 1.0 : 0.0;
    const float ctrl_cost = 0.5f * SumSquaresF32(action, m->nu);
    // Contact cost: clip(cfrc_ext, -1, 1) over all bodies, world body included.
    const int n = 6 * m->nbody;
    double clipped[6 * kMaxBodies];
    CopyClipped(d->cfrc_ext, n, -1.0, 1.0, clipped);
    const double contact_cost = 5e-4 * SumSquares(clipped, n);
    terms[0] = forward;
    terms[1] = -ctrl_cost;
    terms[2] = -contact_cost;
    terms[3] = healthy_reward;
    const double costs = static_cast<double>(ctrl_cost) + contact_cost;
    return {(forward + healthy_reward) - costs, !healthy};
  }
  static constexpr int kMaxBodies = 14;

 private:
  static constexpr ptrdiff_t kMainBody = 1;
  static constexpr double kNoise = 0.1;
};

// ---------------------------------------------------------------- Humanoid-v5
class Humanoid final : public Task {
 public:
  Humanoid(TaskSpec spec, const mjModel* m) : Task(std::move(spec)) {
    total_mass_ = NumpySum(m->body_mass, m->nbody);
  }
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, kNoise, qpos);
    UniformQvel(rng, m->nv, kNoise, qvel);
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    const ptrdiff_t nb = m->nbody;
    double* o = std::copy(d->qpos + 2, d->qpos + m->nq, obs);
    o = std::copy(d->qvel, d->qvel + m->nv, o);
    o = std::copy(d->cinert + 10, d->cinert + 10 * nb, o);
    o = std::copy(d->cvel + 6, d->cvel + 6 * nb, o);
    o = std::copy(d->qfrc_actuator + 6, d->qfrc_actuator + m->nv, o);
    std::copy(d->cfrc_ext + 6, d->cfrc_ext + 6 * nb, o);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    const double x_before = MassCenterX(m, d);
    SimulateFrames(m, d, action);
    const double x_velocity = (MassCenterX(m, d) - x_before) / Dt(m);
    Observe(m, d, obs);
    const bool healthy = 1.0 < d->qpos[2] && d->qpos[2] < 2.0;
    const double forward = 1.25 * x_velocity;
    const double healthy_reward = healthy ? 5.0 : 0.0;
    // Humanoid's control cost reads data.ctrl (float64, unclipped).
    const double ctrl_cost = 0.1 * SumSquares(d->ctrl, m->nu);
    const double contact_cost = std::min(5e-7 * SumSquares(d->cfrc_ext, 6 * m->nbody), 10.0);
    terms[0] = healthy_reward;
    terms[1] = forward;
    terms[2] = -ctrl_cost;
    terms[3] = -contact_cost;
    return {(forward + healthy_reward) - (ctrl_cost + contact_cost), !healthy};
  }

 private:
  // x of Σ_b mass_b xipos_b / Σ_b mass_b (xipos as mj_step left it: stale).
  double MassCenterX(const mjModel* m, const mjData* d) const {
    double num = 0;
    for (ptrdiff_t b = 0; b < m->nbody; ++b) num += m->body_mass[b] * d->xipos[3 * b];
    return num / total_mass_;
  }
  static constexpr double kNoise = 0.01;
  double total_mass_ = 1;
};

// ---------------------------------------------------------------- InvertedPendulum-v5
class InvertedPendulum final : public Task {
 public:
  using Task::Task;
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, 0.01, qpos);
    UniformQvel(rng, m->nv, 0.01, qvel);
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    std::copy(d->qpos, d->qpos + m->nq, obs);
    std::copy(d->qvel, d->qvel + m->nv, obs + m->nq);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    SimulateFrames(m, d, action);
    Observe(m, d, obs);
    bool finite = true;
    for (int i = 0; i < spec().shape.obs_dim; ++i) finite = finite && std::isfinite(obs[i]);
    const bool terminated = !finite || std::fabs(obs[1]) > 0.2;
    // v5: the failing step earns 0.
    const double reward = terminated ? 0.0 : 1.0;
    terms[0] = reward;
    return {reward, terminated};
  }
};

// ---------------------------------------------------------------- InvertedDoublePendulum-v5
class InvertedDoublePendulum final : public Task {
 public:
  using Task::Task;
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, 0.1, qpos);
    for (int i = 0; i < m->nv; ++i) qvel[i] = 0.0 + rng.Normal() * 0.1;
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    obs[0] = d->qpos[0];
    obs[1] = std::sin(d->qpos[1]);
    obs[2] = std::sin(d->qpos[2]);
    obs[3] = std::cos(d->qpos[1]);
    obs[4] = std::cos(d->qpos[2]);
    CopyClipped(d->qvel, 3, -10.0, 10.0, obs + 5);
    obs[8] = Clip(d->qfrc_constraint[0], -10.0, 10.0);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    SimulateFrames(m, d, action);
    // The tip site's x and z, as mj_step left them (stale).
    const double x = d->site_xpos[0], y = d->site_xpos[2];
    Observe(m, d, obs);
    const bool terminated = y <= 1;
    const double v1 = d->qvel[1], v2 = d->qvel[2];
    const double dist_penalty = 0.01 * (x * x) + (y - 2) * (y - 2);
    const double vel_penalty = 0.001 * (v1 * v1) + 0.005 * (v2 * v2);
    const double alive_bonus = terminated ? 0.0 : 10.0;
    terms[0] = alive_bonus;
    terms[1] = -dist_penalty;
    terms[2] = -vel_penalty;
    return {alive_bonus - dist_penalty - vel_penalty, terminated};
  }
};

// ---------------------------------------------------------------- Swimmer-v5
class Swimmer final : public Task {
 public:
  using Task::Task;
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    AddUniform(rng, m->qpos0, m->nq, 0.1, qpos);
    UniformQvel(rng, m->nv, 0.1, qvel);
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    std::copy(d->qpos + 2, d->qpos + m->nq, obs);
    std::copy(d->qvel, d->qvel + m->nv, obs + m->nq - 2);
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    const double x_before = d->qpos[0];
    SimulateFrames(m, d, action);
    const double x_velocity = (d->qpos[0] - x_before) / Dt(m);
    Observe(m, d, obs);
    const double forward = 1.0 * x_velocity;
    const float ctrl_cost = 1e-4f * SumSquaresF32(action, m->nu);
    terms[0] = forward;
    terms[1] = -ctrl_cost;
    return {forward - ctrl_cost, false};
  }
};

// ---------------------------------------------------------------- Reacher-v5
class Reacher final : public Task {
 public:
  Reacher(TaskSpec spec, int fingertip, int target)
      : Task(std::move(spec)), fingertip_(fingertip), target_(target) {}
  void SampleResetState(const mjModel* m, EnvRandom& rng, double* qpos,
                        double* qvel) const override {
    for (int i = 0; i < m->nq; ++i) qpos[i] = rng.Uniform(-0.1, 0.1) + m->qpos0[i];
    double gx, gy;
    do {  // the goal: uniform in the square, kept when inside the disc of radius 0.2
      gx = rng.Uniform(-0.2, 0.2);
      gy = rng.Uniform(-0.2, 0.2);
    } while (!(std::sqrt(gx * gx + gy * gy) < 0.2));
    qpos[m->nq - 2] = gx;
    qpos[m->nq - 1] = gy;
    UniformQvel(rng, m->nv, 0.005, qvel);
    qvel[m->nv - 2] = 0;
    qvel[m->nv - 1] = 0;
  }
  void Observe(const mjModel* m, const mjData* d, double* obs) const override {
    obs[0] = std::cos(d->qpos[0]);
    obs[1] = std::cos(d->qpos[1]);
    obs[2] = std::sin(d->qpos[0]);
    obs[3] = std::sin(d->qpos[1]);
    obs[4] = d->qpos[2];
    obs[5] = d->qpos[3];
    obs[6] = d->qvel[0];
    obs[7] = d->qvel[1];
    obs[8] = d->xpos[3 * fingertip_] - d->xpos[3 * target_];
    obs[9] = d->xpos[3 * fingertip_ + 1] - d->xpos[3 * target_ + 1];
  }
  StepOutcome Step(const mjModel* m, mjData* d, const float* action, double* obs,
                   double* terms) const override {
    SimulateFrames(m, d, action);
    Observe(m, d, obs);
    // v5 computes the reward after the step, from stale xpos.
    double vec[3];
    for (int k = 0; k < 3; ++k) vec[k] = d->xpos[3 * fingertip_ + k] - d->xpos[3 * target_ + k];
    const double reward_dist = -std::sqrt(vec[0] * vec[0] + vec[1] * vec[1] + vec[2] * vec[2]) * 1;
    const float reward_ctrl = -SumSquaresF32(action, m->nu) * 1;
    terms[0] = reward_dist;
    terms[1] = reward_ctrl;
    return {reward_dist + reward_ctrl, false};
  }

 private:
  ptrdiff_t fingertip_, target_;  // body ids
};

// ---------------------------------------------------------------- registry
// The task's shape from common/task_shape.h, at compile time (an unknown name
// does not compile).
consteval TaskShape ShapeOf(std::string_view name) { return *LookupTaskShape(name); }

template <typename T>
TaskEntry::MakeFn Simple() {
  return [](const TaskSpec& spec, const mjModel*) -> absl::StatusOr<std::unique_ptr<Task>> {
    return std::unique_ptr<Task>(new T(spec));
  };
}

const std::vector<TaskEntry>& Registry() {
  static const auto* registry = new std::vector<TaskEntry>{
      {{.shape = ShapeOf("HalfCheetah-v5"),
        .model_file = "half_cheetah.xml",
        .nq = 9,
        .nv = 9,
        .reward_terms = {"reward_forward", "reward_ctrl"}},
       Simple<HalfCheetah>()},
      {{.shape = ShapeOf("Hopper-v5"),
        .model_file = "hopper.xml",
        .nq = 6,
        .nv = 6,
        .reward_terms = {"reward_forward", "reward_ctrl", "reward_survive"}},
       Simple<Hopper>()},
      {{.shape = ShapeOf("Walker2d-v5"),
        .model_file = "walker2d_v5.xml",
        .nq = 9,
        .nv = 9,
        .reward_terms = {"reward_forward", "reward_ctrl", "reward_survive"}},
       Simple<Walker2d>()},
      {{.shape = ShapeOf("Ant-v5"),
        .model_file = "ant.xml",
        .nq = 15,
        .nv = 14,
        .reward_terms = {"reward_forward", "reward_ctrl", "reward_contact", "reward_survive"},
        .reads_rne_post = true},
       [](const TaskSpec& spec, const mjModel* m) -> absl::StatusOr<std::unique_ptr<Task>> {
         if (m->nbody > Ant::kMaxBodies) return absl::InvalidArgumentError("Ant: too many bodies");
         return std::unique_ptr<Task>(new Ant(spec));
       }},
      {{.shape = ShapeOf("Humanoid-v5"),
        .model_file = "humanoid.xml",
        .nq = 24,
        .nv = 23,
        .reward_terms = {"reward_survive", "reward_forward", "reward_ctrl", "reward_contact"},
        .reads_rne_post = true},
       [](const TaskSpec& spec, const mjModel* m) -> absl::StatusOr<std::unique_ptr<Task>> {
         return std::unique_ptr<Task>(new Humanoid(spec, m));
       }},
      {{.shape = ShapeOf("InvertedPendulum-v5"),
        .model_file = "inverted_pendulum.xml",
        .nq = 2,
        .nv = 2,
        .reward_terms = {"reward_survive"}},
       Simple<InvertedPendulum>()},
      {{.shape = ShapeOf("InvertedDoublePendulum-v5"),
        .model_file = "inverted_double_pendulum.xml",
        .nq = 3,
        .nv = 3,
        .reward_terms = {"reward_survive", "distance_penalty", "velocity_penalty"}},
       Simple<InvertedDoublePendulum>()},
      {{.shape = ShapeOf("Swimmer-v5"),
        .model_file = "swimmer.xml",
        .nq = 5,
        .nv = 5,
        .reward_terms = {"reward_forward", "reward_ctrl"}},
       Simple<Swimmer>()},
      {{.shape = ShapeOf("Reacher-v5"),
        .model_file = "reacher.xml",
        .nq = 4,
        .nv = 4,
        .reward_terms = {"reward_dist", "reward_ctrl"}},
       [](const TaskSpec& spec, const mjModel* m) -> absl::StatusOr<std::unique_ptr<Task>> {
         auto fingertip = BodyId(m, "fingertip");
         if (!fingertip.ok()) return fingertip.status();
         auto target = BodyId(m, "target");
         if (!target.ok()) return target.status();
         return std::unique_ptr<Task>(new Reacher(spec, *fingertip, *target));
       }},
  };
  return *registry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Task>> TaskEntry::Bind(const mjModel* m) const {
  const TaskShape& shape = spec.shape;
  if (m->nq != spec.nq || m->nv != spec.nv || m->nu != shape.act_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(shape.name), ": model ", spec.model_file, " has nq=", m->nq, " nv=", m->nv,
        " nu=", m->nu, ", expected nq=", spec.nq, " nv=", spec.nv, " nu=", shape.act_dim));
  }
  for (ptrdiff_t i = 0; i < m->nu; ++i) {
    const float low = static_cast<float>(m->actuator_ctrlrange[2 * i]);
    const float high = static_cast<float>(m->actuator_ctrlrange[2 * i + 1]);
    if (!m->actuator_ctrllimited[i] || low != shape.action_low || high != shape.action_high) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(shape.name), ": model ", spec.model_file, " actuator ", i, " has ctrlrange [",
          low, ", ", high, "]", m->actuator_ctrllimited[i] ? "" : " (not limited)", ", expected [",
          shape.action_low, ", ", shape.action_high, "]"));
    }
  }
  return make(spec, m);
}

absl::StatusOr<const TaskEntry*> FindTask(absl::string_view name) {
  for (const TaskEntry& entry : Registry()) {
    if (entry.spec.shape.name == std::string_view(name.data(), name.size())) return &entry;
  }
  return absl::NotFoundError(absl::StrCat(
      "unknown task '", name, "'; known tasks: ", absl::StrJoin(KnownTaskNames(), ", ")));
}

std::vector<std::string> KnownTaskNames() {
  std::vector<std::string> names;
  for (const TaskEntry& entry : Registry()) names.emplace_back(entry.spec.shape.name);
  return names;
}

}  // namespace sac::envs

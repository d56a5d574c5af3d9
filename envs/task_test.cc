// Tests of the task specs and shared task arithmetic: numpy-compatible sums, the
// registry, every task's sizes against its model, reward = sum of its terms, and
// out-of-bounds actions (clamped by MuJoCo, charged as given).
#include "envs/task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "envs/env.h"
#include "envs/models_dir.h"
#include "envs/task_param_name.h"

namespace sac::envs {
namespace {

using ::testing::HasSubstr;

std::string ModelsDir() {
  auto dir = ResolveModelsDir("");
  EXPECT_TRUE(dir.ok()) << dir.status();
  return dir.ok() ? *dir : "";
}

TEST(NumpySumTest, SequentialBelowEightElements) {
  const float x[3] = {1e8f, 1.0f, -1e8f};
  // ((-0 + 1e8) + 1) + -1e8 in float32: the 1 is lost.
  EXPECT_EQ(NumpySum(x, 3), 0.0f);
}

TEST(NumpySumTest, EightAccumulatorsFromEightElements) {
  // numpy: r0..r7 = x0..x7, res = ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the
  // remainder x8. Each +4 to 1e8 alone is lost (ties to even) in a sequential
  // float32 sum (0), not in numpy's order (24, what np.sum prints).
  const float x[9] = {1e8f, 4, 4, 4, 4, 4, 4, 4, -1e8f};
  EXPECT_EQ(NumpySum(x, 9), 24.0f);
  float sequential = 0;
  for (float v : x) sequential += v;
  EXPECT_EQ(sequential, 0.0f);
}

TEST(NumpySumTest, SumSquaresInFloat32) {
  const float x[2] = {0.5f, 1.5f};
  EXPECT_EQ(SumSquaresF32(x, 2), 2.5f);
  const double y[3] = {1, 2, 3};
  EXPECT_EQ(SumSquares(y, 3), 14.0);
}

TEST(RegistryTest, NineTasks) {
  EXPECT_THAT(KnownTaskNames(),
              ::testing::ElementsAre("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5",
                                     "Humanoid-v5", "InvertedPendulum-v5",
                                     "InvertedDoublePendulum-v5", "Swimmer-v5", "Reacher-v5"));
}

TEST(RegistryTest, UnknownTaskListsKnownOnes) {
  auto entry = FindTask("HalfCheetah-v4");
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(entry.status().message(), HasSubstr("HalfCheetah-v4"));
  for (const std::string& name : KnownTaskNames()) {
    EXPECT_THAT(entry.status().message(), HasSubstr(name));
  }
}

TEST(RegistryTest, MissingModelFileIsAnError) {
  auto loaded = LoadTask("Hopper-v5", "/nonexistent");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("hopper.xml"));
}

class EveryTask : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTask, SizesObservationAndRewardTerms) {
  auto loaded = LoadTask(GetParam(), ModelsDir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const TaskSpec& spec = (*loaded)->spec();
  const mjModel* m = (*loaded)->model.get();
  EXPECT_EQ(m->nu, spec.shape.act_dim);
  EXPECT_EQ(m->nq, spec.nq);
  auto env = MujocoEnv::Create(*loaded, 7);
  ASSERT_TRUE(env.ok()) << env.status();
  // Observe writes exactly obs_dim values: canaries after the end stay.
  std::vector<double> obs(spec.shape.obs_dim + 4, 12345.0);
  (*env)->Reset(obs.data());
  for (int i = spec.shape.obs_dim; i < spec.shape.obs_dim + 4; ++i) EXPECT_EQ(obs[i], 12345.0);
  for (int i = 0; i < spec.shape.obs_dim; ++i) EXPECT_TRUE(std::isfinite(obs[i])) << i;

  std::vector<double> terms(spec.reward_terms.size() + 1, 12345.0);
  std::vector<float> action(spec.shape.act_dim);
  int steps = 0;
  for (; steps < 60; ++steps) {
    for (int j = 0; j < spec.shape.act_dim; ++j) {
      action[j] = static_cast<float>(m->actuator_ctrlrange[2 * j + 1] * std::sin(0.3 * steps + j));
    }
    EnvStepResult r = (*env)->Step(action.data(), obs.data(), terms.data());
    double sum = 0;
    for (size_t k = 0; k < spec.reward_terms.size(); ++k) sum += terms[k];
    EXPECT_NEAR(r.reward, sum, 1e-9 * (1 + std::fabs(r.reward))) << "step " << steps;
    EXPECT_EQ(terms.back(), 12345.0);
    if (r.terminated || r.truncated) break;
  }
  EXPECT_EQ((*env)->elapsed_steps(), std::min(steps + 1, 60));
}

TEST_P(EveryTask, OutOfBoundsActionsAreClampedByMujocoAndChargedAsGiven) {
  auto loaded = LoadTask(GetParam(), ModelsDir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const TaskSpec& spec = (*loaded)->spec();
  const mjModel* m = (*loaded)->model.get();
  auto a = MujocoEnv::Create(*loaded, 3);
  auto b = MujocoEnv::Create(*loaded, 3);
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<double> obs_a(spec.shape.obs_dim), obs_b(spec.shape.obs_dim);
  std::vector<double> terms_a(spec.reward_terms.size()), terms_b(spec.reward_terms.size());
  (*a)->Reset(obs_a.data());
  (*b)->Reset(obs_b.data());
  ASSERT_EQ(obs_a, obs_b);  // same seed, same reset
  std::vector<float> high(spec.shape.act_dim), twice(spec.shape.act_dim);
  for (int j = 0; j < spec.shape.act_dim; ++j) {
    high[j] = static_cast<float>(m->actuator_ctrlrange[2 * j + 1]);
    twice[j] = 2 * high[j];
  }
  EnvStepResult ra = (*a)->Step(twice.data(), obs_a.data(), terms_a.data());
  EnvStepResult rb = (*b)->Step(high.data(), obs_b.data(), terms_b.data());
  // Same physics: MuJoCo clamps ctrl to ctrlrange.
  for (int i = 0; i < m->nq; ++i) EXPECT_EQ((*a)->data()->qpos[i], (*b)->data()->qpos[i]);
  // data.ctrl keeps the value as given.
  EXPECT_EQ((*a)->data()->ctrl[0], static_cast<double>(twice[0]));
  // Tasks with a control cost charge the unclipped action: a lower reward.
  const bool has_ctrl_cost =
      spec.shape.name != "InvertedPendulum-v5" && spec.shape.name != "InvertedDoublePendulum-v5";
  if (has_ctrl_cost) {
    EXPECT_LT(ra.reward, rb.reward);
  } else {
    EXPECT_EQ(ra.reward, rb.reward);
  }
}

INSTANTIATE_TEST_SUITE_P(Tasks, EveryTask, ::testing::ValuesIn(KnownTaskNames()), TaskParamName);

}  // namespace
}  // namespace sac::envs

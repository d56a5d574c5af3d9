// Replays Gymnasium's own check values (testdata/gym_checks/*.json, written by
// make_checks.py with gymnasium 1.4.0 and mujoco 4.0.0: reset(seed=0), 5 steps at
// 0.5 * high, 2 steps at 2 * high) through our tasks: set the reset state, step
// with the recorded actions, compare observation, reward, every reward term,
// terminated, truncated, data.ctrl, qpos and qvel.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "envs/env.h"
#include "envs/models_dir.h"
#include "envs/task_param_name.h"

namespace sac::envs {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// Same MuJoCo binary as the one that wrote the values: they agree to rounding.
constexpr double kTolerance = 1e-12;

std::vector<double> Doubles(const Value& v) {
  std::vector<double> out;
  if (v.has_list_value()) {
    for (const Value& x : v.list_value().values()) out.push_back(x.number_value());
  } else {
    out.push_back(v.number_value());
  }
  return out;
}

const Value& Field(const Struct& s, const std::string& key) {
  static const Value* empty = new Value();
  auto it = s.fields().find(key);
  EXPECT_NE(it, s.fields().end()) << "no key " << key;
  return it == s.fields().end() ? *empty : it->second;
}

double MaxAbsDiff(const std::vector<double>& a, const double* b, int n) {
  EXPECT_EQ(static_cast<int>(a.size()), n);
  double m = 0;
  for (int i = 0; i < n && i < static_cast<int>(a.size()); ++i) {
    m = std::max(m, std::fabs(a[i] - b[i]));
  }
  return m;
}

class GymChecks : public ::testing::TestWithParam<std::string> {};

TEST_P(GymChecks, MatchGymnasium) {
  const std::string path = std::string(SAC_GYM_CHECKS_DIR) + "/" + GetParam() + ".json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  Struct check;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &check).ok()) << path;

  auto dir = ResolveModelsDir("");
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto loaded = LoadTask(GetParam(), *dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto env = MujocoEnv::Create(*loaded, 0);
  ASSERT_TRUE(env.ok()) << env.status();
  const TaskSpec& spec = (*env)->spec();
  const mjModel* m = (*env)->model();
  const mjData* d = (*env)->data();

  const Struct& reset = Field(check, "reset").struct_value();
  std::vector<double> obs(spec.shape.obs_dim), terms(spec.reward_terms.size());
  ASSERT_TRUE(
      (*env)
          ->ResetToState(Doubles(Field(reset, "qpos")), Doubles(Field(reset, "qvel")), obs.data())
          .ok());
  double worst = MaxAbsDiff(Doubles(Field(reset, "obs")), obs.data(), spec.shape.obs_dim);
  EXPECT_LE(worst, kTolerance) << "reset obs";

  const ListValue& steps = Field(check, "steps").list_value();
  ASSERT_EQ(steps.values_size(), 7);
  for (int t = 0; t < steps.values_size(); ++t) {
    const Struct& step = steps.values(t).struct_value();
    std::vector<float> action;
    for (double a : Doubles(Field(step, "action"))) action.push_back(static_cast<float>(a));
    ASSERT_EQ(static_cast<int>(action.size()), spec.shape.act_dim);
    EnvStepResult r = (*env)->Step(action.data(), obs.data(), terms.data());
    SCOPED_TRACE("step " + std::to_string(t));
    const double d_obs = MaxAbsDiff(Doubles(Field(step, "obs")), obs.data(), spec.shape.obs_dim);
    EXPECT_LE(d_obs, kTolerance) << "obs";
    EXPECT_NEAR(r.reward, Field(step, "reward").number_value(), kTolerance);
    EXPECT_EQ(r.terminated, Field(step, "terminated").bool_value());
    EXPECT_EQ(r.truncated, Field(step, "truncated").bool_value());
    EXPECT_LE(MaxAbsDiff(Doubles(Field(step, "ctrl")), d->ctrl, m->nu), 0.0) << "ctrl unclipped";
    EXPECT_LE(MaxAbsDiff(Doubles(Field(step, "qpos")), d->qpos, m->nq), kTolerance) << "qpos";
    EXPECT_LE(MaxAbsDiff(Doubles(Field(step, "qvel")), d->qvel, m->nv), kTolerance) << "qvel";
    const Struct& info = Field(step, "info").struct_value();
    for (size_t k = 0; k < spec.reward_terms.size(); ++k) {
      const std::vector<double> want = Doubles(Field(info, spec.reward_terms[k]));
      ASSERT_EQ(want.size(), 1u);
      EXPECT_NEAR(terms[k], want[0], kTolerance) << spec.reward_terms[k];
      worst = std::max(worst, std::fabs(terms[k] - want[0]));
    }
    worst = std::max({worst, d_obs, std::fabs(r.reward - Field(step, "reward").number_value())});
  }
  std::cout << GetParam() << ": largest |ours - Gymnasium| over obs, reward, terms: " << worst
            << "\n";
}

INSTANTIATE_TEST_SUITE_P(Tasks, GymChecks, ::testing::ValuesIn(KnownTaskNames()), TaskParamName);

}  // namespace
}  // namespace sac::envs

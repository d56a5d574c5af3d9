// common/task_shape.h against what it describes: the envs registry built from
// it, the compiled MuJoCo models (act_dim = nu, action bounds = ctrlrange as
// float32, dt = timestep x frame_skip) and Gymnasium's own reset observations
// (testdata/gym_checks: obs_dim).
#include "common/task_shape.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "envs/models_dir.h"
#include "envs/mujoco_model.h"
#include "envs/task.h"
#include "envs/task_param_name.h"

namespace sac::envs {
namespace {

TEST(TaskShapeRegistryTest, HasTheTableTasksInItsOrder) {
  EXPECT_EQ(KnownTaskNames(), TaskNames());
}

class EveryTaskShape : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTaskShape, RegistrySpecIsTheTableEntry) {
  const TaskShape* shape = LookupTaskShape(GetParam());
  ASSERT_NE(shape, nullptr);
  auto entry = FindTask(GetParam());
  ASSERT_TRUE(entry.ok()) << entry.status();
  const TaskShape& s = (*entry)->spec.shape;
  EXPECT_EQ(s.name, shape->name);
  EXPECT_EQ(s.obs_dim, shape->obs_dim);
  EXPECT_EQ(s.act_dim, shape->act_dim);
  EXPECT_EQ(s.action_low, shape->action_low);
  EXPECT_EQ(s.action_high, shape->action_high);
  EXPECT_EQ(s.frame_skip, shape->frame_skip);
  EXPECT_EQ(s.dt, shape->dt);
  EXPECT_EQ(s.max_episode_steps, shape->max_episode_steps);
}

TEST_P(EveryTaskShape, AgreesWithTheCompiledModel) {
  const TaskShape* shape = LookupTaskShape(GetParam());
  ASSERT_NE(shape, nullptr);
  auto entry = FindTask(GetParam());
  ASSERT_TRUE(entry.ok()) << entry.status();
  auto dir = ResolveModelsDir("");
  ASSERT_TRUE(dir.ok()) << dir.status();
  // The model as MuJoCo compiles it, not through TaskEntry::Bind (which checks
  // the same): this test must not trust the code it checks.
  auto model = LoadModel(*dir + "/" + (*entry)->spec.model_file);
  ASSERT_TRUE(model.ok()) << model.status();
  const mjModel* m = model->get();
  EXPECT_EQ(m->nu, shape->act_dim);
  ASSERT_GT(shape->action_high, shape->action_low);
  for (ptrdiff_t i = 0; i < m->nu; ++i) {
    SCOPED_TRACE(::testing::Message() << "actuator " << i);
    EXPECT_TRUE(m->actuator_ctrllimited[i]);
    EXPECT_EQ(static_cast<float>(m->actuator_ctrlrange[2 * i]), shape->action_low);
    EXPECT_EQ(static_cast<float>(m->actuator_ctrlrange[2 * i + 1]), shape->action_high);
  }
  EXPECT_DOUBLE_EQ(m->opt.timestep * shape->frame_skip, shape->dt);
  EXPECT_GT(shape->max_episode_steps, 0);
}

TEST_P(EveryTaskShape, ObsDimIsGymnasiumsResetObservation) {
  const TaskShape* shape = LookupTaskShape(GetParam());
  ASSERT_NE(shape, nullptr);
  const std::string path = std::string(SAC_GYM_CHECKS_DIR) + "/" + GetParam() + ".json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::Struct check;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &check).ok()) << path;
  const auto& reset = check.fields().at("reset").struct_value();
  EXPECT_EQ(reset.fields().at("obs").list_value().values_size(), shape->obs_dim);
}

INSTANTIATE_TEST_SUITE_P(Tasks, EveryTaskShape, ::testing::ValuesIn(TaskNames()), TaskParamName);

}  // namespace
}  // namespace sac::envs

#include "common/task_shape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace sac {
namespace {

using ::testing::HasSubstr;

TEST(TaskShapeTest, NineTasksWithDistinctNames) {
  const std::vector<std::string> names = TaskNames();
  EXPECT_THAT(names,
              ::testing::ElementsAre("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5",
                                     "Humanoid-v5", "InvertedPendulum-v5",
                                     "InvertedDoublePendulum-v5", "Swimmer-v5", "Reacher-v5"));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
}

TEST(TaskShapeTest, FindsByExactName) {
  auto shape = FindTaskShape("Humanoid-v5");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ((*shape)->obs_dim, 348);
  EXPECT_EQ((*shape)->act_dim, 17);
  EXPECT_EQ((*shape)->ActionLow(), std::vector<float>(17, -0.4f));
  EXPECT_EQ((*shape)->ActionHigh(), std::vector<float>(17, 0.4f));
  static_assert(LookupTaskShape("Reacher-v5")->max_episode_steps == 50);
  static_assert(LookupTaskShape("Reacher-v4") == nullptr);
}

TEST(TaskShapeTest, UnknownTaskNamesItAndTheKnownOnes) {
  auto shape = FindTaskShape("HalfCheetah-v4");
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(shape.status().message(), HasSubstr("unknown task 'HalfCheetah-v4'"));
  for (const std::string& name : TaskNames()) {
    EXPECT_THAT(shape.status().message(), HasSubstr(name));
  }
}

}  // namespace
}  // namespace sac

#include "policy/episodes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>

#include "common/tensor_codec.h"
#include "policy/policy_testing.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

// A random policy obs_dim -> 16 -> act_dim with bounds [-1, 1].
std::unique_ptr<PolicyMlp> RandomPolicy(int obs_dim, int act_dim, uint64_t seed) {
  v1::PolicyMetadata m;
  m.set_task("Test");
  m.set_obs_dim(obs_dim);
  m.set_act_dim(act_dim);
  m.add_hidden_sizes(16);
  m.set_activation("relu");
  m.set_log_std_min(-5);
  m.set_log_std_max(1);
  EncodeVector(std::vector<float>(act_dim, -1.f), m.mutable_action_low());
  EncodeVector(std::vector<float>(act_dim, 1.f), m.mutable_action_high());
  const v1::Policy p = MakePolicyMessage(m, UniformValues(seed, 0.5f));
  auto policy = PolicyMlp::FromPolicy(p);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? std::move(*policy) : nullptr;
}

// Swimmer never terminates: with a time limit of 25 steps every env finishes
// at step 25, and the hook sees 25 steps, each before any episode ended.
TEST(RunEpisodesTest, StopsWhenEveryEnvFinishedOneEpisode) {
  auto batch = envs::EnvBatch::Create("Swimmer-v5", 3, 11, "", 1, /*max_episode_steps=*/25);
  ASSERT_TRUE(batch.ok()) << batch.status();
  auto policy = RandomPolicy((*batch)->obs_dim(), (*batch)->act_dim(), 1);
  ASSERT_NE(policy, nullptr);
  std::mt19937_64 rng(5);
  int steps = 0;
  auto returns =
      RunEpisodes(**batch, *policy, /*deterministic=*/true, rng, [&steps](const EpisodeStep& step) {
        ++steps;
        EXPECT_EQ(step.actions.size(), 3u * 2u);
        for (double r : step.returns) EXPECT_TRUE(std::isnan(r));
        return absl::OkStatus();
      });
  ASSERT_TRUE(returns.ok()) << returns.status();
  EXPECT_EQ(steps, 25);
  ASSERT_EQ(returns->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::isfinite((*returns)[i]));
    EXPECT_TRUE((*batch)->truncated()[i]);
    EXPECT_EQ((*returns)[i], (*batch)->episode_returns()[i]);
  }
}

// InvertedPendulum earns 1 per step but 0 on the step that ends it: each env's
// return is its first episode's length - 1, whatever its neighbours do after.
TEST(RunEpisodesTest, ReturnsAreEachEnvsFirstEpisode) {
  auto batch = envs::EnvBatch::Create("InvertedPendulum-v5", 4, 3);
  ASSERT_TRUE(batch.ok()) << batch.status();
  auto policy = RandomPolicy(4, 1, 2);
  ASSERT_NE(policy, nullptr);
  std::mt19937_64 rng(9);
  std::vector<int> lengths(4, 0);
  auto returns = RunEpisodes(**batch, *policy, /*deterministic=*/false, rng,
                             [&lengths](const EpisodeStep& step) {
                               for (int i = 0; i < 4; ++i) {
                                 lengths[i] += std::isnan(step.returns[i]);
                               }
                               return absl::OkStatus();
                             });
  ASSERT_TRUE(returns.ok()) << returns.status();
  for (int i = 0; i < 4; ++i) {
    ASSERT_LT(lengths[i], 1000) << "env " << i << " reached the time limit";
    EXPECT_EQ((*returns)[i], lengths[i] - 1) << "env " << i;
  }
  // The same seeds give the same episodes.
  auto again = envs::EnvBatch::Create("InvertedPendulum-v5", 4, 3);
  ASSERT_TRUE(again.ok());
  std::mt19937_64 rng2(9);
  auto repeated = RunEpisodes(**again, *policy, /*deterministic=*/false, rng2);
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  EXPECT_EQ(*repeated, *returns);
}

TEST(RunEpisodesTest, RefusesAPolicyOfOtherSizes) {
  auto batch = envs::EnvBatch::Create("Hopper-v5", 1, 0);
  ASSERT_TRUE(batch.ok()) << batch.status();
  auto policy = RandomPolicy(17, 6, 1);
  ASSERT_NE(policy, nullptr);
  std::mt19937_64 rng(0);
  auto returns = RunEpisodes(**batch, *policy, true, rng);
  EXPECT_EQ(returns.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(returns.status().message(), HasSubstr("obs 17 act 6 do not match Hopper-v5"));
}

TEST(RunEpisodesTest, AHookErrorEndsTheLoop) {
  auto batch = envs::EnvBatch::Create("Swimmer-v5", 2, 0);
  ASSERT_TRUE(batch.ok()) << batch.status();
  auto policy = RandomPolicy(8, 2, 1);
  ASSERT_NE(policy, nullptr);
  std::mt19937_64 rng(0);
  int steps = 0;
  auto returns = RunEpisodes(**batch, *policy, true, rng, [&steps](const EpisodeStep&) {
    return ++steps == 3 ? absl::CancelledError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(returns.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(steps, 3);
}

TEST(SummarizeReturnsTest, PopulationMoments) {
  const std::vector<double> r = {1, 2, 3, 6};
  const ReturnStats s = SummarizeReturns(r);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(3.5));
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 6);
}

}  // namespace
}  // namespace sac

// EnvBatch: creation errors, input validation without state change, determinism
// (seeds, threads), per-env seeds, auto-reset keeping the true final observation,
// truncation at the time limit, episode totals.
#include "envs/env_batch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "sac/v1/config_common.pb.h"

namespace sac::envs {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<EnvBatch> MakeBatch(const std::string& task, int n, uint64_t seed, int threads = 1,
                                    int max_steps = 0) {
  auto batch = EnvBatch::Create(task, n, seed, "", threads, max_steps);
  EXPECT_TRUE(batch.ok()) << batch.status();
  return batch.ok() ? *std::move(batch) : nullptr;
}

// Uniform actions in [1.2 low, 1.2 high] (some outside the bounds), reproducible.
std::vector<float> RandomActions(const EnvBatch& b, std::mt19937& gen) {
  std::vector<float> a(static_cast<size_t>(b.num_envs()) * b.act_dim());
  std::uniform_real_distribution<float> u(-1.2f, 1.2f);
  for (size_t j = 0; j < a.size(); ++j) a[j] = u(gen) * b.action_high()[j % b.act_dim()];
  return a;
}

std::vector<float> Copy(absl::Span<const float> s) { return {s.begin(), s.end()}; }

TEST(EnvBatchTest, Sizes) {
  auto b = MakeBatch("Humanoid-v5", 2, 0);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->obs_dim(), 348);
  EXPECT_EQ(b->act_dim(), 17);
  EXPECT_EQ(b->max_episode_steps(), 1000);
  EXPECT_EQ(b->action_high()[0], 0.4f);
  EXPECT_EQ(b->action_low()[0], -0.4f);
  EXPECT_EQ(b->observations().size(), 2u * 348);
  EXPECT_EQ(b->reward_terms().size(), 2u * 4);
  auto r = MakeBatch("Reacher-v5", 1, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->max_episode_steps(), 50);
  auto capped = MakeBatch("Swimmer-v5", 2, 0, /*threads=*/8);
  ASSERT_NE(capped, nullptr);
  EXPECT_EQ(capped->num_threads(), 2);
}

TEST(EnvBatchTest, CreateErrors) {
  auto unknown = EnvBatch::Create("Pusher-v5", 1, 0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("HalfCheetah-v5"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("Reacher-v5"));
  EXPECT_EQ(EnvBatch::Create("Hopper-v5", 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EnvBatch::Create("Hopper-v5", 1, 0, "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto no_dir = EnvBatch::Create("Hopper-v5", 1, 0, "/no/such/dir");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_THAT(no_dir.status().message(), HasSubstr("/no/such/dir"));
}

TEST(EnvBatchTest, FromEnvConfig) {
  sac::v1::EnvConfig config;
  config.set_task("Swimmer-v5");
  config.set_num_envs(3);
  config.set_threads(2);
  config.set_max_episode_steps(7);
  auto b = EnvBatch::Create(config);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->num_envs(), 3);
  EXPECT_EQ((*b)->num_threads(), 2);
  EXPECT_EQ((*b)->max_episode_steps(), 7);
}

TEST(EnvBatchTest, BadInputIsRejectedWithoutStateChange) {
  auto b = MakeBatch("Hopper-v5", 3, 5);
  auto twin = MakeBatch("Hopper-v5", 3, 5);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(twin, nullptr);
  std::vector<float> good(9, 0.3f);
  EXPECT_EQ(b->Step(good).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(b->Reset().ok());
  ASSERT_TRUE(twin->Reset().ok());

  std::vector<float> short_block(8, 0.f);
  absl::Status s = b->Step(short_block);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("9"));
  std::vector<float> nan = good;
  nan[7] = std::numeric_limits<float>::quiet_NaN();
  s = b->Step(nan);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("env 2 at index 1"));
  std::vector<float> inf = good;
  inf[0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(b->Step(inf).code(), absl::StatusCode::kInvalidArgument);

  // Nothing changed: the next good step matches a batch that never saw bad input.
  ASSERT_TRUE(b->Step(good).ok());
  ASSERT_TRUE(twin->Step(good).ok());
  EXPECT_EQ(Copy(b->observations()), Copy(twin->observations()));
  EXPECT_EQ(Copy(b->rewards()), Copy(twin->rewards()));
  EXPECT_EQ(Copy(b->prev_observations()), Copy(twin->prev_observations()));
}

TEST(EnvBatchTest, PerEnvSeedsAreSeedPlusIndex) {
  auto b = MakeBatch("Ant-v5", 3, 10);
  auto single = MakeBatch("Ant-v5", 1, 12);
  ASSERT_TRUE(b->Reset().ok());
  ASSERT_TRUE(single->Reset().ok());
  const ptrdiff_t d = b->obs_dim();
  std::vector<float> row2(b->observations().begin() + 2 * d, b->observations().begin() + 3 * d);
  EXPECT_EQ(row2, Copy(single->observations()));
  std::vector<float> row0(b->observations().begin(), b->observations().begin() + d);
  EXPECT_NE(row0, row2);
}

// Same seed and actions: the same buffers, whatever the number of threads.
TEST(EnvBatchTest, DeterministicAcrossRunsAndThreads) {
  for (const std::string task : {"Hopper-v5", "InvertedDoublePendulum-v5"}) {
    auto a = MakeBatch(task, 5, 42, 1);
    auto b = MakeBatch(task, 5, 42, 3);
    ASSERT_EQ(b->num_threads(), 3);
    ASSERT_TRUE(a->Reset().ok());
    ASSERT_TRUE(b->Reset().ok());
    std::mt19937 gen(1);
    int episodes = 0;
    for (int t = 0; t < 300; ++t) {
      std::vector<float> act = RandomActions(*a, gen);
      ASSERT_TRUE(a->Step(act).ok());
      ASSERT_TRUE(b->Step(act).ok());
      ASSERT_EQ(Copy(a->observations()), Copy(b->observations())) << task << " step " << t;
      ASSERT_EQ(Copy(a->next_observations()), Copy(b->next_observations()));
      ASSERT_EQ(Copy(a->rewards()), Copy(b->rewards()));
      for (int i = 0; i < a->num_envs(); ++i) episodes += a->terminated()[i] | a->truncated()[i];
    }
    EXPECT_GT(episodes, 5) << task << ": the test must cover auto-resets";
  }
}

TEST(EnvBatchTest, AutoResetKeepsTheTrueFinalObservation) {
  // InvertedPendulum terminates when |qpos[1]| > 0.2 (obs[1]); reset noise is 0.01.
  auto b = MakeBatch("InvertedPendulum-v5", 4, 3);
  ASSERT_TRUE(b->Reset().ok());
  std::mt19937 gen(2);
  std::vector<int> length(4, 0);
  std::vector<double> ret(4, 0);
  int finished = 0;
  for (int t = 0; t < 400; ++t) {
    const std::vector<float> before = Copy(b->observations());
    std::vector<float> act = RandomActions(*b, gen);
    ASSERT_TRUE(b->Step(act).ok());
    EXPECT_EQ(Copy(b->prev_observations()), before);
    for (int i = 0; i < 4; ++i) {
      const size_t row = static_cast<size_t>(i) * 4;  // 4 observations per env
      const float* next = b->next_observations().data() + row;
      const float* cur = b->observations().data() + row;
      length[i] += 1;
      ret[i] += b->rewards()[i];
      EXPECT_EQ(b->episode_lengths()[i], length[i]);
      EXPECT_NEAR(b->episode_returns()[i], ret[i], 1e-9);
      EXPECT_FALSE(b->truncated()[i]);
      if (b->terminated()[i]) {
        ++finished;
        EXPECT_GT(std::fabs(next[1]), 0.2f) << "final obs is the terminal one";
        EXPECT_EQ(b->rewards()[i], 0.f) << "v5: the failing step earns 0";
        EXPECT_LE(std::fabs(cur[1]), 0.01f) << "current obs is a fresh reset";
        length[i] = 0;
        ret[i] = 0;
      } else {
        EXPECT_EQ(std::vector<float>(next, next + 4), std::vector<float>(cur, cur + 4));
        EXPECT_EQ(b->rewards()[i], 1.f);
      }
    }
  }
  EXPECT_GT(finished, 4);
}

TEST(EnvBatchTest, TruncatesAtTheTimeLimit) {
  auto b = MakeBatch("HalfCheetah-v5", 2, 0, 2, 5);
  ASSERT_TRUE(b->Reset().ok());
  std::mt19937 gen(3);
  for (int t = 1; t <= 12; ++t) {
    ASSERT_TRUE(b->Step(RandomActions(*b, gen)).ok());
    for (int i = 0; i < 2; ++i) {
      EXPECT_FALSE(b->terminated()[i]);
      EXPECT_EQ(b->truncated()[i], t % 5 == 0) << "step " << t;
      EXPECT_EQ(b->episode_lengths()[i], (t - 1) % 5 + 1);
    }
    if (t % 5 == 0) {
      EXPECT_NE(Copy(b->next_observations()), Copy(b->observations()));
    }
  }
}

}  // namespace
}  // namespace sac::envs

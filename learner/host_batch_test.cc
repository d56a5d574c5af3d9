#include "learner/host_batch.h"

#include <gtest/gtest.h>

#include "common/tensor_codec.h"

namespace sac::learner {
namespace {

v1::TransitionBatch MakeBatch(int rows, int obs_dim, int act_dim) {
  v1::TransitionBatch b;
  std::vector<float> obs(static_cast<size_t>(rows) * obs_dim),
      act(static_cast<size_t>(rows) * act_dim), rew(rows);
  for (size_t i = 0; i < obs.size(); ++i) obs[i] = 0.5f * i;
  for (size_t i = 0; i < act.size(); ++i) act[i] = -0.25f * i;
  for (size_t i = 0; i < rew.size(); ++i) rew[i] = i;
  EncodeMatrix(obs, rows, obs_dim, b.mutable_obs());
  EncodeMatrix(act, rows, act_dim, b.mutable_action());
  EncodeVector(rew, b.mutable_reward());
  EncodeMatrix(obs, rows, obs_dim, b.mutable_next_obs());
  b.set_terminated(std::string(rows, '\0'));
  b.set_truncated(std::string(rows, '\0'));
  b.mutable_terminated()->at(1) = 1;
  b.mutable_truncated()->at(2) = 1;
  for (int i = 0; i < rows; ++i) {
    b.add_policy_version(1);
    b.add_actor_id(0);
  }
  return b;
}

TEST(HostBatchTest, HostBatchOfViewsTheDecodedColumns) {
  const v1::TransitionBatch b = MakeBatch(4, 3, 2);
  absl::StatusOr<TransitionBatchView> d = TransitionBatchView::Decode(b, 3, 2);
  ASSERT_TRUE(d.ok()) << d.status();
  const HostBatch h = HostBatchOf(*d);
  EXPECT_EQ(h.batch_size, 4);
  EXPECT_EQ(h.obs_dim, 3);
  EXPECT_EQ(h.act_dim, 2);
  EXPECT_EQ(h.obs[5], 2.5f);
  EXPECT_EQ(h.action[3], -0.75f);
  EXPECT_EQ(h.reward[3], 3.0f);
  EXPECT_EQ(h.next_obs[11], 5.5f);
  EXPECT_EQ(h.terminated[1], 1);
  EXPECT_EQ(h.terminated[2], 0);
  EXPECT_EQ(h.truncated[2], 1);
  EXPECT_TRUE(ValidateHostBatch(h, 3, 2).ok());
}

TEST(HostBatchTest, ValidateHostBatchChecksSizesAndColumns) {
  HostBatchColumns c;
  c.obs_dim = 3;
  c.act_dim = 2;
  c.obs.assign(6, 0);
  c.action.assign(4, 0);
  c.reward.assign(2, 0);
  c.next_obs.assign(6, 0);
  c.terminated.assign(2, 0);
  c.truncated.assign(2, 0);
  EXPECT_TRUE(ValidateHostBatch(c.host(2), 3, 2).ok());
  EXPECT_FALSE(ValidateHostBatch(c.host(2), 4, 2).ok());
  EXPECT_FALSE(ValidateHostBatch(c.host(0), 3, 2).ok());
  HostBatch missing = c.host(2);
  missing.reward = nullptr;
  EXPECT_FALSE(ValidateHostBatch(missing, 3, 2).ok());
  EXPECT_FALSE(ValidateHostBatch(HostBatch(), 3, 2).ok());
}

}  // namespace
}  // namespace sac::learner

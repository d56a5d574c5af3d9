#include "learner/host_batch.h"

#include <gtest/gtest.h>

namespace sac::learner {
namespace {

v1::TransitionBatch MakeBatch(int rows, int obs_dim, int act_dim) {
  v1::TransitionBatch b;
  std::vector<float> obs(rows * obs_dim), act(rows * act_dim), rew(rows);
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
  return b;
}

TEST(DecodedTransitionBatchTest, ViewsTheColumns) {
  const v1::TransitionBatch b = MakeBatch(4, 3, 2);
  absl::StatusOr<DecodedTransitionBatch> d = DecodedTransitionBatch::FromProto(b, 3, 2);
  ASSERT_TRUE(d.ok()) << d.status();
  const HostBatch& h = d->host();
  EXPECT_EQ(h.batch_size, 4);
  EXPECT_EQ(h.obs[5], 2.5f);
  EXPECT_EQ(h.action[3], -0.75f);
  EXPECT_EQ(h.reward[3], 3.0f);
  EXPECT_EQ(h.next_obs[11], 5.5f);
  EXPECT_EQ(h.terminated[1], 1);
  EXPECT_EQ(h.terminated[2], 0);
  EXPECT_EQ(h.truncated[2], 1);
  EXPECT_TRUE(ValidateHostBatch(h, 3, 2).ok());
  EXPECT_FALSE(ValidateHostBatch(h, 4, 2).ok());
}

TEST(DecodedTransitionBatchTest, RejectsMalformedBatches) {
  EXPECT_FALSE(DecodedTransitionBatch::FromProto(MakeBatch(4, 3, 2), 5, 2).ok());
  v1::TransitionBatch b = MakeBatch(4, 3, 2);
  b.mutable_terminated()->at(0) = 2;
  EXPECT_FALSE(DecodedTransitionBatch::FromProto(b, 3, 2).ok());
  b = MakeBatch(4, 3, 2);
  b.set_truncated("\0\0\0", 3);
  EXPECT_FALSE(DecodedTransitionBatch::FromProto(b, 3, 2).ok());
  b = MakeBatch(4, 3, 2);
  std::vector<float> rew = {0, 1, NAN, 3};
  EncodeVector(rew, b.mutable_reward());
  EXPECT_FALSE(DecodedTransitionBatch::FromProto(b, 3, 2).ok());
  HostBatch empty;
  EXPECT_FALSE(ValidateHostBatch(empty, 3, 2).ok());
}

}  // namespace
}  // namespace sac::learner

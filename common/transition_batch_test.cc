#include "common/transition_batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/tensor_codec.h"

namespace sac {
namespace {

// Row r holds obs (r*10 + j), action -(r*10 + j), reward r, next_obs obs + 0.5,
// terminated on row 1, truncated on row 2, policy version 100 + r, actor r.
v1::TransitionBatch MakeBatch(int rows, int obs_dim, int act_dim, int first = 0) {
  v1::TransitionBatch b;
  std::vector<float> obs, act, rew, next;
  for (int r = first; r < first + rows; ++r) {
    for (int j = 0; j < obs_dim; ++j) {
      obs.push_back(static_cast<float>(r * 10 + j));
      next.push_back(static_cast<float>(r * 10 + j) + 0.5f);
    }
    for (int j = 0; j < act_dim; ++j) act.push_back(-static_cast<float>(r * 10 + j));
    rew.push_back(static_cast<float>(r));
    b.mutable_terminated()->push_back(r == 1 ? 1 : 0);
    b.mutable_truncated()->push_back(r == 2 ? 1 : 0);
    b.add_policy_version(100 + static_cast<uint64_t>(r));
    b.add_actor_id(static_cast<uint32_t>(r));
  }
  EncodeMatrix(obs, rows, obs_dim, b.mutable_obs());
  EncodeMatrix(act, rows, act_dim, b.mutable_action());
  EncodeVector(rew, b.mutable_reward());
  EncodeMatrix(next, rows, obs_dim, b.mutable_next_obs());
  return b;
}

void ExpectRows(const TransitionBatchView& v, int first, int rows) {
  ASSERT_EQ(v.rows(), rows);
  for (int i = 0; i < rows; ++i) {
    const int r = first + i;
    EXPECT_EQ(v.obs()[i * v.obs_dim() + 1], static_cast<float>(r * 10 + 1));
    EXPECT_EQ(v.action()[i * v.act_dim()], -static_cast<float>(r * 10));
    EXPECT_EQ(v.reward()[i], static_cast<float>(r));
    EXPECT_EQ(v.next_obs()[i * v.obs_dim()], static_cast<float>(r * 10) + 0.5f);
    EXPECT_EQ(v.terminated()[i], r == 1 ? 1 : 0);
    EXPECT_EQ(v.truncated()[i], r == 2 ? 1 : 0);
    EXPECT_EQ(v.policy_version()[i], 100u + static_cast<uint64_t>(r));
    EXPECT_EQ(v.actor_id()[i], static_cast<uint32_t>(r));
  }
}

TEST(TransitionBatchViewTest, DecodeViewsTheMessageInPlace) {
  const v1::TransitionBatch b = MakeBatch(4, 3, 2);
  absl::StatusOr<TransitionBatchView> v = TransitionBatchView::Decode(b, 3, 2);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->obs_dim(), 3);
  EXPECT_EQ(v->act_dim(), 2);
  ExpectRows(*v, 0, 4);
  EXPECT_EQ(static_cast<const void*>(v->obs()), static_cast<const void*>(b.obs().data().data()));
  // A moved view still points at the message.
  TransitionBatchView moved = std::move(*v);
  ExpectRows(moved, 0, 4);
}

TEST(TransitionBatchViewTest, EveryDefectIsAnErrorNamingItsField) {
  const v1::TransitionBatch good = MakeBatch(4, 3, 2);
  auto expect = [](const v1::TransitionBatch& b, absl::StatusCode code, const std::string& what,
                   int64_t max_rows = TransitionBatchView::kNoRowLimit) {
    const absl::Status s = TransitionBatchView::Decode(b, 3, 2, max_rows).status();
    EXPECT_EQ(s.code(), code) << what << ": " << s;
    EXPECT_NE(s.message().find(what), std::string::npos) << s;
  };
  expect(v1::TransitionBatch(), absl::StatusCode::kInvalidArgument, "batch.obs: shape");
  expect(MakeBatch(4, 4, 2), absl::StatusCode::kInvalidArgument, "batch.obs");
  expect(MakeBatch(4, 3, 3), absl::StatusCode::kInvalidArgument, "batch.action");
  expect(good, absl::StatusCode::kResourceExhausted, "batch.obs: 4 rows exceed the limit of 3", 3);
  v1::TransitionBatch b = good;
  b.mutable_obs()->set_shape(0, 0);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.obs: 0 rows, expected at least 1");
  b = good;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.mutable_reward()->mutable_data()->data() + 8, &nan, 4);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.reward");
  b = good;
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(b.mutable_next_obs()->mutable_data()->data(), &inf, 4);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.next_obs");
  b = good;
  b.mutable_action()->mutable_data()->resize(3);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.action");
  b = good;
  (*b.mutable_terminated())[0] = 2;
  expect(b, absl::StatusCode::kInvalidArgument, "batch.terminated");
  b = good;
  b.mutable_truncated()->pop_back();
  expect(b, absl::StatusCode::kInvalidArgument, "batch.truncated");
  b = good;
  b.add_policy_version(7);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.policy_version");
  b = good;
  b.clear_actor_id();
  expect(b, absl::StatusCode::kInvalidArgument, "batch.actor_id");
}

TEST(TransitionBatchViewTest, ConcatJoinsTheRowsInOrder) {
  const v1::TransitionBatch first = MakeBatch(2, 3, 2, 0);
  const v1::TransitionBatch second = MakeBatch(3, 3, 2, 2);
  auto a = TransitionBatchView::Decode(first, 3, 2);
  auto b = TransitionBatchView::Decode(second, 3, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  const TransitionBatchView* parts[] = {&*a, &*b};
  v1::TransitionBatch joined;
  joined.add_actor_id(99);  // replaced
  const TransitionBatchView v = TransitionBatchView::Concat(parts, &joined);
  ExpectRows(v, 0, 5);
  EXPECT_EQ(static_cast<const void*>(v.reward()),
            static_cast<const void*>(joined.reward().data().data()));
  // The message written is itself a valid batch of those rows.
  auto again = TransitionBatchView::Decode(joined, 3, 2);
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectRows(*again, 0, 5);
}

}  // namespace
}  // namespace sac

// ReplayWriter against real in-process shards: acks in order with the
// observer, refusals dropped and reported by Flush, the in-flight bound and
// Close, and reconnection with resending of unacknowledged batches.
#include "replay_client/replay_writer.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "replay_server/test_batches.h"
#include "replay_server/test_shard.h"
#include "tests/testing/process.h"

namespace sac::replay {
namespace {

using testing::kAct;
using testing::kObs;
using testing::MakeBatch;
using testing::Plain;
using testing::TestShard;

TEST(ReplayWriterTest, AcksEveryBatchInOrderAndCountsThem) {
  TestShard s(Plain());
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok()) << w.status();
  struct Ack {
    uint64_t sequence, first_key;
    int64_t rows;
  };
  absl::Mutex mu;
  std::vector<Ack> acks;
  (*w)->SetAckObserver([&](uint64_t sequence, uint64_t first_key, int64_t rows) {
    absl::MutexLock lock(&mu);
    acks.push_back({sequence, first_key, rows});
  });
  for (int i = 0; i < 5; ++i) {
    auto sequence = (*w)->Write(MakeBatch(uint64_t{100} * i, i + 1, kObs, kAct));
    ASSERT_TRUE(sequence.ok()) << sequence.status();
    EXPECT_EQ(*sequence, static_cast<uint64_t>(i + 1));
  }
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  const WriterStats stats = (*w)->stats();
  EXPECT_EQ(stats.written_batches, 5u);
  EXPECT_EQ(stats.acked_batches, 5u);
  EXPECT_EQ(stats.acked_rows, 15u);
  EXPECT_EQ(stats.rejected_batches, 0u);
  EXPECT_EQ(stats.in_flight, 0u);
  EXPECT_EQ(s.shard()->table()->size(), 15);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(acks.size(), 5u);
  uint64_t key = acks[0].first_key;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(acks[i].sequence, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(acks[i].rows, i + 1);
    EXPECT_EQ(acks[i].first_key, key);  // consecutive keys, batch after batch
    key += static_cast<uint64_t>(i + 1);
  }
}

TEST(ReplayWriterTest, ARefusedBatchIsDroppedCountedAndReportedByFlush) {
  TestShard s(Plain());
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 3, kObs + 1, kAct)).ok());  // wrong obs size
  ASSERT_TRUE((*w)->Write(MakeBatch(10, 4, kObs, kAct)).ok());
  const absl::Status flushed = (*w)->Flush(absl::Seconds(30));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kInvalidArgument) << flushed;
  EXPECT_NE(flushed.message().find("batch.obs"), std::string::npos) << flushed;
  EXPECT_EQ((*w)->stats().rejected_batches, 1u);
  EXPECT_EQ((*w)->stats().acked_batches, 1u);
  EXPECT_EQ(s.shard()->table()->size(), 4);
  // The refusal is reported once.
  EXPECT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
}

TEST(ReplayWriterTest, WriteWaitsAtTheInFlightBoundAndCloseStopsIt) {
  // No shard at this address: every batch stays in flight.
  WriterOptions wo;
  wo.address = absl::StrCat("127.0.0.1:", sac::testing::PickFreePort());
  wo.client.set_initial_backoff_seconds(0.05);
  wo.client.set_max_backoff_seconds(0.1);
  wo.max_in_flight_batches = 2;
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 1, kObs, kAct)).ok());
  ASSERT_TRUE((*w)->Write(MakeBatch(1, 1, kObs, kAct)).ok());
  EXPECT_EQ((*w)->Write(MakeBatch(2, 1, kObs, kAct), absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*w)->stats().written_batches, 2u);
  EXPECT_EQ((*w)->stats().in_flight, 2u);
  EXPECT_EQ((*w)->Flush(absl::Milliseconds(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*w)->Close(absl::Milliseconds(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*w)->Write(MakeBatch(3, 1, kObs, kAct)).status().code(),
            absl::StatusCode::kUnavailable);
}

// The shard goes away and comes back on the same port and data folder: the
// writer reconnects with backoff, sends what was not acked again, and every
// batch it wrote is in the table.
TEST(ReplayWriterTest, ReconnectsAndResendsUnackedBatches) {
  const std::string dir = sac::testing::MakeTempDir("reconnect");
  ShardOptions o = Plain(100000);
  o.durable = true;
  o.data_dir = dir;
  o.wal.fsync = FsyncPolicy::kNone;
  auto first = std::make_unique<TestShard>(o);
  const int port = first->port();
  WriterOptions wo;
  wo.address = first->address();
  wo.client.set_initial_backoff_seconds(0.02);
  wo.client.set_max_backoff_seconds(0.2);
  wo.max_in_flight_batches = 4;
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*w)->Write(MakeBatch(uint64_t{100} * i, 5, kObs, kAct)).ok());
  }
  first->Stop();
  first.reset();
  // Written while the shard is down: they wait in the writer (bounded).
  std::thread more([&] {
    for (int i = 20; i < 40; ++i) {
      ASSERT_TRUE((*w)->Write(MakeBatch(uint64_t{100} * i, 5, kObs, kAct)).ok());
    }
  });
  TestShard second(o, "", port);
  more.join();
  ASSERT_TRUE((*w)->Flush(absl::Seconds(60)).ok());
  std::set<uint64_t> ids;
  const int64_t size = second.shard()->table()->size();
  const uint64_t next = second.shard()->table()->next_key();
  for (uint64_t k = next - static_cast<uint64_t>(size); k < next; ++k) {
    v1::TransitionBatch row;
    ASSERT_TRUE(second.shard()->table()->ReadRow(k, &row).ok());
    ids.insert(row.policy_version(0));
  }
  for (int i = 0; i < 40; ++i) {
    for (int r = 0; r < 5; ++r) EXPECT_TRUE(ids.count(100 * i + r)) << 100 * i + r;
  }
  EXPECT_GE((*w)->stats().reconnects, 1u);
  EXPECT_EQ((*w)->stats().acked_batches, 40u);
}

}  // namespace
}  // namespace sac::replay

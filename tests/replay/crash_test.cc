// Crash test of the real sac-replay: several writers insert at full speed while
// snapshots are taken, the shard is killed with SIGKILL at a random moment and
// restarted on the same data folder; every acknowledged transition is there,
// byte for byte.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <map>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "replay_client/replay_writer.h"
#include "replay_server/shard.h"
#include "replay_server/test_batches.h"
#include "sac/v1/replay.grpc.pb.h"
#include "tests/replay/binary_dir.h"
#include "tests/testing/process.h"

namespace sac::replay {
namespace {

using sac::testing::ChildProcess;
using testing::MakeBatch;
using testing::RowOf;

constexpr int64_t kObs = 17, kAct = 6;  // HalfCheetah-v5
constexpr int64_t kRows = 64;           // rows per batch
constexpr uint64_t kWriterIds = 100000000;

std::unique_ptr<ChildProcess> StartShard(const std::string& dir, const std::string& port_file,
                                         const std::string& log) {
  auto p = ChildProcess::Start(
      {sac::testing::BinaryPath("sac-replay"), "--task=HalfCheetah-v5", "--capacity=2000000",
       "--shard_index=2", "--rate_limiter.min_size_to_sample=1",
       "--rate_limiter.samples_per_insert=0", "--durability.data_dir=" + dir,
       "--durability.fsync=batch", "--durability.snapshot_interval_seconds=0.3",
       "--server.port_file=" + port_file},
      log);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(*p);
}

TEST(ReplayCrashTest, EveryAckedTransitionSurvivesSigkill) {
  EnsureBinaryDir();
  const std::string dir = sac::testing::MakeTempDir("replay_crash");
  const std::string data = dir + "/data";
  const std::string log = dir + "/shard.log";
  auto shard = StartShard(data, dir + "/ports1", log);
  auto ports = sac::testing::WaitForPortFile(dir + "/ports1", absl::Seconds(30), shard.get());
  ASSERT_TRUE(ports.ok()) << ports.status() << shard->ReadLog();

  // first key -> (first id, rows) of every acknowledged batch.
  absl::Mutex mu;
  std::map<uint64_t, uint64_t> acked;
  constexpr int kWriters = 3;
  std::vector<std::unique_ptr<ReplayWriter>> writers;
  for (int w = 0; w < kWriters; ++w) {
    WriterOptions o;
    o.address = absl::StrCat("127.0.0.1:", ports->grpc);
    o.max_in_flight_batches = 8;
    auto writer = ReplayWriter::Create(o);
    ASSERT_TRUE(writer.ok());
    (*writer)->SetAckObserver([&mu, &acked, w](uint64_t seq, uint64_t first_key, int64_t rows) {
      absl::MutexLock l(&mu);
      acked[first_key] = w * kWriterIds + seq * kRows;
    });
    writers.push_back(std::move(*writer));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.reserve(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      // Sequence numbers start at 1 and go up by one per Write.
      for (uint64_t seq = 1; !stop.load(); ++seq) {
        auto s = writers[w]->Write(MakeBatch(w * kWriterIds + seq * kRows, kRows, kObs, kAct),
                                   absl::Milliseconds(200));
        if (!s.ok()) {
          if (s.status().code() == absl::StatusCode::kDeadlineExceeded && !stop.load()) {
            --seq;  // not queued: the same batch again
            continue;
          }
          break;
        }
        EXPECT_EQ(*s, seq);
      }
    });
  }
  // Kill at a random moment once some acks came back (and snapshots were taken).
  absl::BitGen gen;
  const absl::Duration run = absl::Milliseconds(absl::Uniform(gen, 400, 1500));
  const absl::Time kill_at = absl::Now() + run;
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] {
        absl::MutexLock l(&mu);
        return acked.size() > 50 && absl::Now() >= kill_at;
      },
      absl::Seconds(60)));
  shard->Signal(SIGKILL);
  auto status = shard->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  stop = true;
  std::map<uint64_t, uint64_t> snapshot_of_acked;
  {
    absl::MutexLock l(&mu);
    snapshot_of_acked = acked;
  }
  for (auto& t : threads) t.join();
  writers.clear();  // unacked batches are abandoned; acked ones must be on disk
  ASSERT_GT(snapshot_of_acked.size(), 50u);

  // Restart on the same folder: it serves and holds at least the acked rows.
  auto again = StartShard(data, dir + "/ports2", log);
  auto ports2 = sac::testing::WaitForPortFile(dir + "/ports2", absl::Seconds(60), again.get());
  ASSERT_TRUE(ports2.ok()) << ports2.status() << again->ReadLog();
  auto stub = v1::ReplayService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", ports2->grpc), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ReplayStatus st;
    ASSERT_TRUE(stub->GetStatus(&c, {}, &st).ok());
    EXPECT_GE(st.size(), snapshot_of_acked.size() * kRows);
    EXPECT_EQ(st.shard_index(), 2u);
    // Sampled rows are rows that were sent, byte for byte (ids are in policy_version).
    grpc::ClientContext c2;
    c2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::SampleRequest req;
    req.set_batch_size(256);
    v1::SampleResponse out;
    ASSERT_TRUE(stub->Sample(&c2, req, &out).ok());
    for (int i = 0; i < 256; ++i) {
      const uint64_t id = out.batch().policy_version(i);
      const auto want = MakeBatch(id, 1, kObs, kAct);
      ASSERT_EQ(RowOf(out.batch(), i, kObs, kAct).SerializeAsString(), want.SerializeAsString());
    }
  }
  again->Signal(SIGTERM);
  auto exit = again->WaitForExit(absl::Seconds(60));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << again->ReadLog();

  // Every acked row, read back from the shard's files by the same recovery code.
  ShardOptions o;
  o.table.spec = {kObs, kAct};
  o.table.capacity = 2000000;
  o.durable = true;
  o.data_dir = data;
  auto recovered = ReplayShard::Create(o, nullptr);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  int64_t checked = 0;
  for (const auto& [first_key, first_id] : snapshot_of_acked) {
    const auto batch = MakeBatch(first_id, kRows, kObs, kAct);
    for (int64_t r = 0; r < kRows; ++r) {
      v1::TransitionBatch row;
      ASSERT_TRUE((*recovered)->table()->ReadRow(first_key + r, &row).ok()) << first_key + r;
      ASSERT_EQ(row.SerializeAsString(), RowOf(batch, r, kObs, kAct).SerializeAsString())
          << "key " << first_key + r;
      ++checked;
    }
  }
  SAC_LOG(INFO) << "killed after " << absl::FormatDuration(run) << "; " << checked
                << " acknowledged rows checked byte for byte";
}

}  // namespace
}  // namespace sac::replay

// The write-ahead log, snapshots and recovery, on a file system that injects
// faults: failing syncs, and a crash that keeps only what was synced plus part
// of what was not (a torn tail).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/crc32c.h"
#include "replay_server/shard.h"
#include "replay_server/snapshot.h"
#include "replay_server/test_batches.h"
#include "replay_server/wal.h"
#include "tests/testing/process.h"

namespace sac::replay {
namespace {

using testing::MakeBatch;
using testing::RowOf;

constexpr int64_t kObs = 4, kAct = 2;

// Tracks, per file, how many bytes were synced. Crash() cuts every file back to
// its synced length plus `torn_bytes` of what followed; Freeze() makes every
// later operation fail (the process is "dead").
class FaultFileSystem final : public FileSystem {
 public:
  struct State {
    absl::Mutex mu;
    std::map<std::string, uint64_t> size, synced;
    bool frozen = false;
    int fail_syncs_after = -1;  // -1: never
  };

  class File final : public WritableFile {
   public:
    File(std::unique_ptr<WritableFile> base, std::string path, State* st)
        : base_(std::move(base)), path_(std::move(path)), st_(st) {}
    absl::Status Append(absl::string_view data) override {
      absl::MutexLock l(&st_->mu);
      if (st_->frozen) return absl::InternalError("frozen");
      st_->size[path_] += data.size();
      return base_->Append(data);
    }
    absl::Status Sync() override {
      absl::MutexLock l(&st_->mu);
      if (st_->frozen) return absl::InternalError("frozen");
      if (st_->fail_syncs_after == 0) return absl::InternalError("injected sync failure");
      if (st_->fail_syncs_after > 0) --st_->fail_syncs_after;
      st_->synced[path_] = st_->size[path_];
      return base_->Sync();
    }
    absl::Status Close() override { return base_->Close(); }

   private:
    std::unique_ptr<WritableFile> base_;
    std::string path_;
    State* st_;
  };

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    {
      absl::MutexLock l(&st_.mu);
      if (st_.frozen) return absl::InternalError("frozen");
      st_.size[path] = 0;
      st_.synced[path] = 0;
    }
    auto f = base_->NewWritableFile(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<WritableFile>(new File(std::move(*f), path, &st_));
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return base_->ReadFile(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  absl::Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    absl::MutexLock l(&st_.mu);
    if (st_.frozen) return absl::InternalError("frozen");
    st_.size[to] = st_.size[from];
    st_.synced[to] = st_.synced[from];
    st_.size.erase(from);
    st_.synced.erase(from);
    return base_->Rename(from, to);
  }
  absl::Status Delete(const std::string& path) override {
    absl::MutexLock l(&st_.mu);
    if (st_.frozen) return absl::InternalError("frozen");
    st_.size.erase(path);
    st_.synced.erase(path);
    return base_->Delete(path);
  }
  absl::Status Truncate(const std::string& path, uint64_t size) override {
    return base_->Truncate(path, size);
  }
  absl::Status SyncDir(const std::string& dir) override {
    absl::MutexLock l(&st_.mu);
    if (st_.frozen) return absl::InternalError("frozen");
    return base_->SyncDir(dir);
  }

  void Freeze() {
    absl::MutexLock l(&st_.mu);
    st_.frozen = true;
  }
  void FailSyncsAfter(int n) {
    absl::MutexLock l(&st_.mu);
    st_.fail_syncs_after = n;
  }
  // Cuts files to what was synced plus `torn_bytes` more (a torn tail).
  void Crash(uint64_t torn_bytes) {
    absl::MutexLock l(&st_.mu);
    for (const auto& [path, size] : st_.size) {
      const uint64_t keep = std::min(size, st_.synced[path] + torn_bytes);
      ASSERT_TRUE(base_->Truncate(path, keep).ok()) << path;
    }
  }

 private:
  FileSystem* base_ = PosixFileSystem();
  State st_;
};

ShardOptions Options(const std::string& dir, FileSystem* fs, FsyncPolicy fsync) {
  ShardOptions o;
  o.table.spec = {kObs, kAct};
  o.table.capacity = 100000;
  o.limiter = {1, 0, 0};
  o.durable = true;
  o.data_dir = dir;
  o.fs = fs;
  o.wal.fsync = fsync;
  o.wal.group_commit = absl::Milliseconds(1);
  return o;
}

// Acked batches: first key -> batch.
struct Acked {
  absl::Mutex mu;
  std::map<uint64_t, v1::TransitionBatch> batches;
};

// Inserts `count` batches of `rows` from `threads` threads, recording acked ones.
void InsertConcurrently(ReplayShard* shard, int threads, int count, int64_t rows, Acked* acked,
                        uint64_t id_base) {
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([=] {
      for (int i = 0; i < count; ++i) {
        const uint64_t id = id_base + (static_cast<uint64_t>(t) * count + i) * rows;
        auto batch = std::make_shared<v1::TransitionBatch>(MakeBatch(id, rows, kObs, kAct));
        auto v = ValidateBatch(*batch, shard->table()->spec(), 1 << 20);
        ASSERT_TRUE(v.ok());
        absl::Notification done;
        shard->Insert(v->rows, [&, batch](const absl::Status& s, uint64_t first_key, int64_t) {
          if (s.ok()) {
            absl::MutexLock l(&acked->mu);
            acked->batches[first_key] = *batch;
          }
          done.Notify();
        });
        done.WaitForNotification();
      }
    });
  }
  for (auto& w : workers) w.join();
}

void ExpectAllAckedRowsPresent(ReplayTable* table, Acked* acked) {
  absl::MutexLock l(&acked->mu);
  ASSERT_FALSE(acked->batches.empty());
  for (const auto& [first_key, batch] : acked->batches) {
    for (int64_t r = 0; r < batch.obs().shape(0); ++r) {
      v1::TransitionBatch row;
      ASSERT_TRUE(table->ReadRow(first_key + r, &row).ok()) << first_key + r;
      ASSERT_EQ(row.SerializeAsString(), RowOf(batch, r, kObs, kAct).SerializeAsString())
          << "key " << first_key + r;
    }
  }
}

TEST(WalTest, RecordsRoundTripAndATornTailIsDetected) {
  const std::string dir = sac::testing::MakeTempDir("wal");
  {
    auto wal = WriteAheadLog::Open(PosixFileSystem(), dir, {}, 3);
    ASSERT_TRUE(wal.ok()) << wal.status();
    std::atomic<int> ok{0};
    for (int i = 0; i < 100; ++i) {
      (*wal)->Append(std::string(10 + i, static_cast<char>('a' + i % 26)),
                     [&](const absl::Status& s) { ok += s.ok(); });
    }
    ASSERT_TRUE((*wal)->Close().ok());
    EXPECT_EQ(ok.load(), 100);
    EXPECT_GE((*wal)->commits(), 1u);
  }
  const std::string path = absl::StrCat(dir, "/", SegmentFileName(3));
  // A record cut in the middle, as a crash during write leaves it.
  auto data = PosixFileSystem()->ReadFile(path);
  ASSERT_TRUE(data.ok());
  {
    auto f = PosixFileSystem()->NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(
        (*f)->Append(*data + FrameRecord("a record that did not make it").substr(0, 20)).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  int seen = 0;
  auto r = ReadSegment(PosixFileSystem(), path, [&](const std::string& body) {
    EXPECT_EQ(body.size(), static_cast<size_t>(10 + seen));
    EXPECT_EQ(body[0], static_cast<char>('a' + seen % 26));
    ++seen;
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, 100);
  EXPECT_TRUE(r->torn());
  EXPECT_EQ(r->valid_bytes, data->size());
  // A flipped byte inside a record ends the valid prefix there.
  std::string corrupt = *data;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  {
    auto f = PosixFileSystem()->NewWritableFile(path);
    ASSERT_TRUE((*f)->Append(corrupt).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  seen = 0;
  r = ReadSegment(PosixFileSystem(), path, [&](const std::string&) {
    ++seen;
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_LT(seen, 100);
  EXPECT_TRUE(r->torn());
}

TEST(WalTest, AFailedSyncFailsItsRecordsAndEveryLaterOne) {
  const std::string dir = sac::testing::MakeTempDir("walfail");
  FaultFileSystem fs;
  auto wal = WriteAheadLog::Open(&fs, dir, {FsyncPolicy::kAlways, absl::ZeroDuration()}, 0);
  ASSERT_TRUE(wal.ok());
  absl::Notification first;
  absl::Status s1;
  (*wal)->Append("one", [&](absl::Status s) {
    s1 = std::move(s);
    first.Notify();
  });
  first.WaitForNotification();
  EXPECT_TRUE(s1.ok());
  fs.FailSyncsAfter(0);
  absl::Notification second;
  absl::Status s2;
  (*wal)->Append("two", [&](absl::Status s) {
    s2 = std::move(s);
    second.Notify();
  });
  second.WaitForNotification();
  EXPECT_EQ(s2.code(), absl::StatusCode::kInternal);
  fs.FailSyncsAfter(-1);
  absl::Notification third;
  absl::Status s3;
  (*wal)->Append("three", [&](absl::Status s) {
    s3 = std::move(s);
    third.Notify();
  });
  third.WaitForNotification();
  EXPECT_FALSE(s3.ok());  // the log is broken: no ack after a lost write
}

TEST(SnapshotTest, RoundTripAndCorruptionIsDetected) {
  const std::string dir = sac::testing::MakeTempDir("snap");
  TableOptions o;
  o.spec = {kObs, kAct};
  o.capacity = 50;
  auto t = ReplayTable::Create(o);
  auto b = MakeBatch(0, 30, kObs, kAct);
  (*t)->Insert(ValidateBatch(b, o.spec, 100)->rows);
  auto path = WriteSnapshot(PosixFileSystem(), dir, (*t)->Copy(), 7);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, absl::StrCat(dir, "/", SnapshotFileName(7)));
  uint64_t seg = 0;
  auto c = ReadSnapshot(PosixFileSystem(), *path, &seg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(seg, 7u);
  EXPECT_EQ(c->size, 30);
  auto data = PosixFileSystem()->ReadFile(*path);
  std::string bad = *data;
  bad[bad.size() / 2] ^= 1;
  auto f = PosixFileSystem()->NewWritableFile(*path);
  ASSERT_TRUE((*f)->Append(bad).ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(ReadSnapshot(PosixFileSystem(), *path, &seg).status().code(),
            absl::StatusCode::kDataLoss);
  f = PosixFileSystem()->NewWritableFile(*path);
  ASSERT_TRUE((*f)->Append(data->substr(0, data->size() - 100)).ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(ReadSnapshot(PosixFileSystem(), *path, &seg).status().code(),
            absl::StatusCode::kDataLoss);
}

// Found by fuzz_snapshot: reading an empty table's snapshot passed a null
// pointer to memcpy (undefined behaviour, caught by UBSan).
TEST(SnapshotTest, EmptyTableRoundTrips) {
  const std::string dir = sac::testing::MakeTempDir("snap-empty");
  TableOptions o;
  o.spec = {kObs, kAct};
  o.capacity = 8;
  auto t = ReplayTable::Create(o);
  auto path = WriteSnapshot(PosixFileSystem(), dir, (*t)->Copy(), 2);
  ASSERT_TRUE(path.ok()) << path.status();
  uint64_t seg = 0;
  auto c = ReadSnapshot(PosixFileSystem(), *path, &seg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->size, 0);
  EXPECT_TRUE(c->obs.empty());
}

// Found by fuzz_snapshot (tests/fuzz/corpus/snapshot/regress-size-overflow): a
// header whose row count times the row size wraps around to the payload size
// made ReadSnapshot resize a column to 2^63 rows (std::length_error, abort).
TEST(SnapshotTest, RowCountThatOverflowsIsDataLoss) {
  const std::string dir = sac::testing::MakeTempDir("snap-overflow");
  v1::ReplaySnapshotHeader header;
  header.set_size(uint64_t{1} << 63);  // x 26 bytes per row (dims 0) = 0 mod 2^64
  header.set_payload_bytes(0);
  const std::string h = header.SerializeAsString();
  const uint32_t len = static_cast<uint32_t>(h.size());
  const std::string body = std::string(reinterpret_cast<const char*>(&len), 4) + h;
  const uint32_t crc = Crc32c(0, body.data(), body.size());
  const std::string file =
      "SACSNAP1" + body + std::string(reinterpret_cast<const char*>(&crc), 4) + "SNAPEND1";
  const std::string path = absl::StrCat(dir, "/", SnapshotFileName(1));
  auto f = PosixFileSystem()->NewWritableFile(path);
  ASSERT_TRUE((*f)->Append(file).ok());
  ASSERT_TRUE((*f)->Close().ok());
  uint64_t seg = 0;
  auto c = ReadSnapshot(PosixFileSystem(), path, &seg);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss) << c.status();
  EXPECT_TRUE(absl::StrContains(c.status().message(), "payload size")) << c.status();
}

// A crash that loses everything not synced and leaves a torn tail: every acked
// row is recovered byte for byte, the tail is cut, and the shard goes on.
TEST(ShardDurabilityTest, AckedRowsSurviveACrashWithATornTail) {
  for (FsyncPolicy policy : {FsyncPolicy::kBatch, FsyncPolicy::kAlways}) {
    const std::string dir = sac::testing::MakeTempDir("crash");
    FaultFileSystem fs;
    Acked acked;
    {
      auto shard = ReplayShard::Create(Options(dir, &fs, policy), nullptr);
      ASSERT_TRUE(shard.ok()) << shard.status();
      InsertConcurrently(shard->get(), 4, 40, 7, &acked, 0);
      // One more batch is written but its sync fails: not acked, and its bytes
      // are the unsynced tail the crash tears.
      fs.FailSyncsAfter(0);
      Acked lost;
      InsertConcurrently(shard->get(), 1, 1, 7, &lost, 900000);
      EXPECT_TRUE(lost.batches.empty());
      fs.Freeze();  // the process dies here: nothing more reaches the disk
      fs.Crash(/*torn_bytes=*/13);
    }
    const std::string segment = absl::StrCat(dir, "/", SegmentFileName(0));
    const uint64_t torn_size = PosixFileSystem()->ReadFile(segment)->size();
    auto shard = ReplayShard::Create(Options(dir, PosixFileSystem(), policy), nullptr);
    ASSERT_TRUE(shard.ok()) << shard.status();
    EXPECT_EQ(PosixFileSystem()->ReadFile(segment)->size(), torn_size - 13);  // the tail was cut
    ExpectAllAckedRowsPresent((*shard)->table(), &acked);
    EXPECT_EQ((*shard)->table()->size(), 4 * 40 * 7);
    // The shard takes new rows after the recovered ones.
    Acked more;
    InsertConcurrently(shard->get(), 1, 3, 5, &more, 1000000);
    ExpectAllAckedRowsPresent((*shard)->table(), &more);
  }
}

// Snapshots taken while inserts go on: nothing acked is lost, the log segments
// and snapshots a newer snapshot covers are deleted, and restart = snapshot + log.
TEST(ShardDurabilityTest, SnapshotsDuringInsertsLoseNothing) {
  const std::string dir = sac::testing::MakeTempDir("snapins");
  Acked acked;
  FaultFileSystem fs;
  {
    auto shard = ReplayShard::Create(Options(dir, &fs, FsyncPolicy::kNone), nullptr);
    ASSERT_TRUE(shard.ok());
    std::atomic<bool> inserting{true};
    std::thread snapshotter([&] {
      int taken = 0;
      while (inserting.load() || taken < 3) {
        ASSERT_TRUE((*shard)->Snapshot().ok());
        ++taken;
      }
    });
    InsertConcurrently(shard->get(), 3, 200, 4, &acked, 0);
    inserting = false;
    snapshotter.join();
    // More rows after the last snapshot: they come back from the log.
    InsertConcurrently(shard->get(), 1, 10, 4, &acked, 500000);
    auto names = PosixFileSystem()->ListDir(dir);
    ASSERT_TRUE(names.ok());
    int snapshots = 0, segments = 0;
    for (const auto& n : *names) {
      snapshots += ParseSnapshotFileName(n) >= 0;
      segments += ParseSegmentFileName(n) >= 0;
    }
    EXPECT_EQ(snapshots, 1);
    EXPECT_EQ(segments, 1);
    // Leave without Close's final snapshot (like a kill; the page cache keeps the log).
    fs.Freeze();
  }
  auto shard = ReplayShard::Create(Options(dir, PosixFileSystem(), FsyncPolicy::kNone), nullptr);
  ASSERT_TRUE(shard.ok()) << shard.status();
  ExpectAllAckedRowsPresent((*shard)->table(), &acked);
  EXPECT_EQ((*shard)->table()->size(), 3 * 200 * 4 + 10 * 4);
}

TEST(ShardDurabilityTest, ACorruptSnapshotIsSkippedNotFatal) {
  const std::string dir = sac::testing::MakeTempDir("badsnap");
  Acked acked;
  {
    auto shard = ReplayShard::Create(Options(dir, PosixFileSystem(), FsyncPolicy::kBatch), nullptr);
    ASSERT_TRUE(shard.ok());
    InsertConcurrently(shard->get(), 1, 5, 3, &acked, 0);
  }  // Close: final snapshot
  auto names = PosixFileSystem()->ListDir(dir);
  for (const auto& n : *names) {
    if (ParseSnapshotFileName(n) >= 0) {
      auto f = PosixFileSystem()->NewWritableFile(absl::StrCat(dir, "/", n));
      ASSERT_TRUE((*f)->Append("SACSNAP1 garbage").ok());
    }
  }
  auto shard = ReplayShard::Create(Options(dir, PosixFileSystem(), FsyncPolicy::kBatch), nullptr);
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ((*shard)->table()->size(), 0);  // the rows lived only in that snapshot
}

}  // namespace
}  // namespace sac::replay

// Fuzz target: the write-ahead log reader and the shard's recovery
// (replay_server/wal.h ReadSegment, rows.h DecodeRecord, shard.h Recover):
// what a restarting sac-replay reads back from its data folder.
// Input: [u8 mode][bytes]. Mode bit 0 clear: the bytes are the segment file
// wal-0. Set: the bytes are records [u16 length][body]..., each framed here
// with its valid length and CRC-32C (so the fuzzer reaches the record decoder
// behind the checksum), then whatever is left as a raw (torn) tail. Mode bit 1:
// the table is prioritized. Mode bit 2: the same framing goes to a second
// segment wal-1 after the first record list ends (a u16 length 0 ends it).
// The table: obs_dim 3, act_dim 2, capacity 16 (the seeds use these).
// Properties: recovery either fails cleanly (DATA_LOSS naming the file, nothing
// else is touched) or yields a table of at most capacity rows whose torn tail
// was cut; the recovered shard accepts an insert; after Close a second
// recovery of the same folder gives the same rows (recovery is repeatable).
#include <cstring>

#include "absl/synchronization/notification.h"
#include "replay_server/shard.h"
#include "replay_server/wal.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/memory_fs.h"
#include "tests/fuzz/same_rows.h"

namespace {

using sac::fuzz::Fail;
namespace replay = sac::replay;

constexpr int64_t kObs = 3, kAct = 2, kCapacity = 16;

// Frames records [u16 len][body] until a zero length or the end of the input.
std::string FramedRecords(sac::fuzz::FuzzInput* in) {
  std::string out;
  while (!in->empty()) {
    const uint16_t len = in->U16();
    if (len == 0) break;
    out += replay::FrameRecord(in->Take(len));
  }
  return out;
}

replay::ShardOptions Options(sac::fuzz::MemoryFileSystem* fs, bool prioritized) {
  replay::ShardOptions o;
  o.table.spec = {kObs, kAct};
  o.table.capacity = kCapacity;
  o.table.selector = prioritized ? "prioritized" : "uniform";
  o.durable = true;
  o.data_dir = "/data";
  o.fs = fs;
  o.wal.fsync = replay::FsyncPolicy::kNone;
  o.wal.group_commit = absl::ZeroDuration();
  o.seed = 1;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sac::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  sac::fuzz::MemoryFileSystem fs;
  const std::string seg0 = "/data/" + replay::SegmentFileName(0);
  const std::string seg1 = "/data/" + replay::SegmentFileName(1);
  if (mode & 1) {
    std::string first = FramedRecords(&in);
    if (mode & 4) {
      fs.Put(seg1, FramedRecords(&in) + std::string(in.Rest()));
    } else {
      first += std::string(in.Rest());
    }
    fs.Put(seg0, std::move(first));
  } else {
    fs.Put(seg0, std::string(in.Rest()));
  }
  const replay::ShardOptions options = Options(&fs, mode & 2);

  // What the reader sees: the valid prefix of each segment.
  std::map<std::string, uint64_t> valid;
  for (const std::string& path : {seg0, seg1}) {
    if (!fs.Exists(path)) continue;
    auto r = replay::ReadSegment(&fs, path, [](const std::string&) { return absl::OkStatus(); });
    if (!r.ok()) Fail("read segment: " + r.status().ToString());
    if (r->valid_bytes > r->file_bytes) Fail("valid prefix longer than the file");
    valid[path] = r->valid_bytes;
  }

  auto shard = replay::ReplayShard::Create(options, nullptr);
  if (!shard.ok()) {
    if (shard.status().code() != absl::StatusCode::kDataLoss ||
        shard.status().message().find("/data/wal-") == absl::string_view::npos) {
      Fail("recovery failed without DATA_LOSS naming the segment: " + shard.status().ToString());
    }
    return 0;
  }
  replay::ReplayTable* table = (*shard)->table();
  if (table->size() < 0 || table->size() > kCapacity) Fail("table size out of range");
  for (const auto& [path, bytes] : valid) {
    auto now = fs.ReadFile(path);
    if (!now.ok() || now->size() != bytes)
      Fail("torn tail of " + path + " not cut to its valid prefix");
  }

  // The recovered shard takes new rows, logged after the recovered ones.
  float obs[kObs] = {1, 2, 3}, action[kAct] = {0.5f, -0.5f}, reward = 1;
  uint8_t flag = 0;
  uint64_t version = 9;
  uint32_t actor = 2;
  replay::RowsRef row{1, obs, action, &reward, obs, &flag, &flag, &version, &actor};
  absl::Notification inserted;
  absl::Status insert_status;
  (*shard)->Insert(row, [&](absl::Status s, uint64_t, int64_t) {
    insert_status = s;
    inserted.Notify();
  });
  inserted.WaitForNotification();
  if (!insert_status.ok()) Fail("insert after recovery: " + insert_status.ToString());
  const replay::TableContents before = table->Copy();
  absl::Status closed = (*shard)->Close();
  if (!closed.ok()) Fail("close: " + closed.ToString());
  shard->reset();

  // Recovering the same folder again gives the same table.
  auto again = replay::ReplayShard::Create(options, nullptr);
  if (!again.ok()) Fail("second recovery: " + again.status().ToString());
  if (!sac::fuzz::SameRows((*again)->table()->Copy(), before)) Fail("second recovery differs");
  return 0;
}

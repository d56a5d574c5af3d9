// Fuzz target: replay snapshot files (replay_server/snapshot.h), read by a
// shard's recovery, and the table restore that follows.
// Input: [u8 mode][u8 capacity - 1][bytes]. Mode bit 0 clear: the bytes are the
// whole file. Set: the bytes are everything between the magic and the checksum
// (header length, header, columns), framed here with a valid CRC-32C and end
// marker, so the fuzzer reaches the header and column parsing behind the
// checksum. Mode bit 1: the restoring table is prioritized.
// Properties: a bad file is DATA_LOSS; a read snapshot has columns of exactly
// `size` rows; a table restores it or refuses with FAILED_PRECONDITION /
// DATA_LOSS; a restored table holds exactly the snapshot's rows (Copy), can be
// sampled and inserted into, and writes a snapshot that reads back the same.
#include <cstring>

#include "absl/random/random.h"
#include "common/crc32c.h"
#include "replay_server/snapshot.h"
#include "replay_server/table.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/memory_fs.h"
#include "tests/fuzz/same_rows.h"

namespace {

using sac::fuzz::Fail;
namespace replay = sac::replay;

std::string Frame(absl::string_view body) {
  std::string file("SACSNAP1");
  file.append(body.data(), body.size());
  const uint32_t crc = sac::Crc32c(0, body.data(), body.size());
  file.append(reinterpret_cast<const char*>(&crc), 4);
  file.append("SNAPEND1");
  return file;
}

// The rows and, for a snapshot, the samples counter too.
bool SameRows(const replay::TableContents& a, const replay::TableContents& b) {
  return sac::fuzz::SameRows(a, b) && a.samples_total == b.samples_total;
}

// The first `n` rows of every column of `c` (a table's Copy holds all slots).
replay::TableContents FirstRows(const replay::TableContents& c, int64_t n) {
  replay::TableContents out = c;
  const size_t rows = static_cast<size_t>(n);
  out.obs.resize(rows * c.spec.obs_dim);
  out.action.resize(rows * c.spec.act_dim);
  out.reward.resize(rows);
  out.next_obs.resize(rows * c.spec.obs_dim);
  out.terminated.resize(rows);
  out.truncated.resize(rows);
  out.policy_version.resize(rows);
  out.actor_id.resize(rows);
  out.key.resize(rows);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sac::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  const int64_t capacity = 1 + in.Byte();
  const absl::string_view rest = in.Rest();
  sac::fuzz::MemoryFileSystem fs;
  const std::string path = "/data/" + replay::SnapshotFileName(7);
  fs.Put(path, (mode & 1) ? Frame(rest) : std::string(rest));

  uint64_t segment = 0;
  auto contents = replay::ReadSnapshot(&fs, path, &segment);
  if (!contents.ok()) {
    if (contents.status().code() != absl::StatusCode::kDataLoss) {
      Fail("unexpected error code: " + contents.status().ToString());
    }
    return 0;
  }
  const auto& c = *contents;
  const size_t n = static_cast<size_t>(c.size);
  if (c.size < 0 || c.obs.size() != n * c.spec.obs_dim || c.action.size() != n * c.spec.act_dim ||
      c.reward.size() != n || c.next_obs.size() != n * c.spec.obs_dim || c.terminated.size() != n ||
      c.truncated.size() != n || c.policy_version.size() != n || c.actor_id.size() != n ||
      c.key.size() != n) {
    Fail("snapshot columns do not hold `size` rows");
  }
  // A table of these dimensions (kept small: the fuzzer's memory is bounded).
  if (c.spec.obs_dim < 1 || c.spec.act_dim < 1 || c.spec.obs_dim > 256 || c.spec.act_dim > 256) {
    return 0;
  }
  replay::TableOptions options;
  options.spec = c.spec;
  options.capacity = capacity;
  options.selector = (mode & 2) ? "prioritized" : "uniform";
  auto table = replay::ReplayTable::Create(options);
  if (!table.ok()) Fail("table: " + table.status().ToString());
  absl::Status restored = (*table)->Restore(c);
  if (!restored.ok()) {
    const auto code = restored.code();
    if (code != absl::StatusCode::kFailedPrecondition && code != absl::StatusCode::kDataLoss) {
      Fail("unexpected restore error: " + restored.ToString());
    }
    if ((*table)->size() != 0) Fail("a refused restore changed the table");
    return 0;
  }
  if ((*table)->size() != c.size) Fail("restored size differs");
  const replay::TableContents copy = (*table)->Copy();
  if (!SameRows(FirstRows(copy, c.size), c)) Fail("restored table differs from the snapshot");

  // The restored table writes a snapshot that reads back the same.
  auto written = replay::WriteSnapshot(&fs, "/data", copy, 9);
  if (!written.ok()) Fail("write: " + written.status().ToString());
  uint64_t segment2 = 0;
  auto back = replay::ReadSnapshot(&fs, *written, &segment2);
  if (!back.ok() || segment2 != 9) Fail("written snapshot does not read back");
  if (!SameRows(*back, copy)) Fail("written snapshot differs");

  // The restored table keeps working: sample, insert a row, look it up.
  absl::BitGen gen;
  if (c.size > 0) {
    sac::v1::SampleResponse response;
    absl::Status s = (*table)->Sample(4, gen, &response);
    if (!s.ok()) Fail("sample after restore: " + s.ToString());
    for (uint64_t key : response.key()) {
      sac::v1::TransitionBatch row;
      if (!(*table)->ReadRow(key, &row).ok() &&
          (*table)->ReadRow(key, &row).code() != absl::StatusCode::kNotFound) {
        Fail("read row of a sampled key");
      }
    }
  }
  std::vector<float> obs(c.spec.obs_dim, 0.5f), action(c.spec.act_dim, 0.25f);
  float reward = 1;
  uint8_t flag = 0;
  uint64_t version = 3;
  uint32_t actor = 4;
  replay::RowsRef row{1,     obs.data(), action.data(), &reward, obs.data(),
                      &flag, &flag,      &version,      &actor};
  const uint64_t key = (*table)->Insert(row);
  sac::v1::TransitionBatch read;
  absl::Status s = (*table)->ReadRow(key, &read);
  if (!s.ok()) Fail("the row inserted after restore is not found: " + s.ToString());
  return 0;
}

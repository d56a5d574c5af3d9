// WriteAheadLog: the shard's append-only log of inserted batches, in numbered
// segment files `wal-<20 digits>.log` under the data folder. One writer thread
// commits records in groups: everything queued while the previous commit ran
// (or within `group_commit` of the first queued record) goes out in one write and
// at most one fsync. A record's callback runs after its commit, i.e. after the
// bytes are in the file (fsync none), or on disk (batch: one fsync per group;
// always: one fsync per record).
//
// Record framing: [u32 length][u32 crc32c of length bytes + body][body]. A record
// whose length or checksum does not match ends the segment's valid prefix: a
// torn tail after a crash is detected and cut (ReadSegment / TruncateTorn).
//
// Thread-safety: Append and Roll are thread-safe; records are written in the
// order Append was called (callers that need log order == key order call Append
// under their own lock). After a write or sync error the log is broken: that
// record and every later one fail with the error.
#ifndef SAC_REPLAY_SERVER_WAL_H_
#define SAC_REPLAY_SERVER_WAL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replay_server/file_system.h"

namespace sac::replay {

enum class FsyncPolicy { kAlways, kBatch, kNone };
// "always" | "batch" | "none"; INVALID_ARGUMENT otherwise.
absl::StatusOr<FsyncPolicy> ParseFsyncPolicy(absl::string_view name);

struct WalOptions {
  FsyncPolicy fsync = FsyncPolicy::kBatch;
  absl::Duration group_commit = absl::Milliseconds(2);
  size_t max_group_bytes = 8 << 20;  // a group is cut once this many bytes are queued
};

std::string SegmentFileName(uint64_t segment);
// The segment number of a file name made by SegmentFileName, or -1.
int64_t ParseSegmentFileName(absl::string_view name);

class WriteAheadLog {
 public:
  using Callback = std::function<void(absl::Status)>;

  // Starts a new segment `segment` in `dir` (which must exist).
  static absl::StatusOr<std::unique_ptr<WriteAheadLog>> Open(FileSystem* fs, std::string dir,
                                                             const WalOptions& options,
                                                             uint64_t segment);
  ~WriteAheadLog();  // Close()

  // Queues `body` as one record; `done` runs on the writer thread once it is
  // committed (or failed). Never blocks on I/O.
  void Append(std::string body, Callback done) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a new segment: records appended after Roll returns go there. Returns
  // its number. The previous segment is synced and closed by the writer thread.
  uint64_t Roll() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the writer thread has opened segment `segment` (made by Roll),
  // i.e. no record will be written to an earlier one any more. Returns the log's
  // error if it broke, UNAVAILABLE if it closed first.
  absl::Status AwaitSegment(uint64_t segment) ABSL_LOCKS_EXCLUDED(mu_);
  // Commits everything queued, closes the file and stops the writer thread;
  // later Appends fail with UNAVAILABLE. Returns the first error seen, if any.
  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  uint64_t bytes_written() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t current_segment() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::string body;  // empty with roll_to > 0: a segment switch
    uint64_t roll_to = 0;
    Callback done;
    absl::Time queued;
  };
  WriteAheadLog(FileSystem* fs, std::string dir, const WalOptions& options, uint64_t segment,
                std::unique_ptr<WritableFile> file);
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status OpenSegment(uint64_t segment);

  FileSystem* const fs_;
  const std::string dir_;
  const WalOptions options_;
  std::unique_ptr<WritableFile> file_;  // writer thread only (after Open)

  mutable absl::Mutex mu_;
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t segment_ ABSL_GUARDED_BY(mu_);         // the segment new Appends go to
  uint64_t opened_segment_ ABSL_GUARDED_BY(mu_);  // the segment the writer writes
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> bytes_{0};
  std::thread thread_;
};

struct SegmentReadResult {
  uint64_t records = 0;
  uint64_t valid_bytes = 0;  // length of the valid prefix
  uint64_t file_bytes = 0;
  bool torn() const { return valid_bytes != file_bytes; }
};

// Calls `fn` with the body of each valid record of the segment file at `path`,
// in order, stopping at the first torn or corrupt record. An error from `fn`
// is returned as is.
absl::StatusOr<SegmentReadResult> ReadSegment(
    FileSystem* fs, const std::string& path,
    const std::function<absl::Status(const std::string& body)>& fn);

// Frames `body` as one record (exposed for tests that write torn files).
std::string FrameRecord(absl::string_view body);

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_WAL_H_

// ReplayShard: everything one sac-replay process holds, without gRPC: the
// table, the rate limiter, the write-ahead log and the snapshot thread, plus
// the shard's metrics. ReplayService (the gRPC face) calls it; tests and the
// benchmark can drive it directly.
//
// Durability (when enabled): Create recovers the table from the newest valid
// snapshot in data_dir plus the log segments after it (a torn tail is cut);
// Insert calls back only once the batch is in the log per the fsync policy; a
// snapshot thread takes snapshots every snapshot_interval while traffic goes on
// (the table is copied under the insert lock, the log rolls to a new segment in
// the same critical section, and the copy is written outside of it); Close
// takes a final snapshot. Old snapshots and the segments they cover are deleted
// once a newer snapshot is durable.
//
// Thread-safety: thread-safe.
#ifndef SAC_REPLAY_SERVER_SHARD_H_
#define SAC_REPLAY_SERVER_SHARD_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/task_shape.h"
#include "replay_server/file_system.h"
#include "replay_server/rate_limiter.h"
#include "replay_server/table.h"
#include "replay_server/wal.h"
#include "sac/v1/replay.pb.h"
#include "sac/v1/replay_config.pb.h"

namespace sac::replay {

struct ShardOptions {
  uint32_t shard_index = 0;
  TableOptions table;
  RateLimiterOptions limiter;
  bool durable = false;
  std::string data_dir;
  WalOptions wal;
  absl::Duration snapshot_interval = absl::ZeroDuration();  // zero: only at Close
  FileSystem* fs = nullptr;                                 // null: PosixFileSystem()
  uint64_t seed = 0;                                        // 0: random
  std::string config_text;                                  // reported by Status
  // Largest gRPC message: bounds the rows of one insert or sample.
  int64_t max_message_bytes = 64 << 20;
};

// Options of a shard from its process config (dims from the task when not set).
absl::StatusOr<ShardOptions> ShardOptionsFromConfig(const v1::ReplayServerConfig& config);

// The shape of `--task` as the shard reads it: a task id ("HalfCheetah-v5"),
// or the same without its "-v5" ("HalfCheetah"). NOT_FOUND naming the known
// tasks otherwise.
absl::StatusOr<const TaskShape*> ShardTaskShape(const std::string& task);

// The shard's metrics (DESIGN.md names), registered once per registry.
struct ShardMetrics {
  explicit ShardMetrics(MetricsRegistry* registry, const std::string& shard);
  Counter* inserts;
  Counter* samples;
  Counter* insert_batches;
  Counter* sample_batches;
  Counter* rejected_insert;
  Counter* rejected_sample;
  Counter* rejected_update;
  Histogram* insert_wait;
  Histogram* sample_wait;
  Histogram* insert_latency;
  Histogram* sample_latency;
  Counter* snapshots;
  Histogram* snapshot_seconds;
  Gauge* size;
  Gauge* capacity;
  Gauge* held_bytes;
  Gauge* blocked_inserters;
  Gauge* blocked_samplers;
  Gauge* wal_commits;
  Gauge* wal_bytes;
};

class ReplayShard {
 public:
  // Builds the table (and recovers it when durable). `registry` may be null.
  static absl::StatusOr<std::unique_ptr<ReplayShard>> Create(const ShardOptions& options,
                                                             MetricsRegistry* registry);
  ~ReplayShard();  // Close()

  using InsertDone = std::function<void(absl::Status status, uint64_t first_key, int64_t size)>;
  // Stores validated `rows` (admitted by the limiter already). `done` runs once
  // they are stored and, when durable, committed to the log: on this thread when
  // not durable, on the log's thread otherwise. `rows` may be released when
  // Insert returns.
  void Insert(const RowsRef& rows, const InsertDone& done) ABSL_LOCKS_EXCLUDED(insert_mu_);
  // Draws `batch_size` rows (admitted by the limiter already) into `out`'s
  // arrays (the service's wire encoder); returns the table size the rows were
  // drawn from.
  absl::StatusOr<int64_t> SampleInto(int64_t batch_size, const SampleColumns& out);

  // Takes a snapshot now (FAILED_PRECONDITION when not durable).
  absl::Status Snapshot() ABSL_LOCKS_EXCLUDED(insert_mu_, snapshot_mu_);
  // Fails waiting and later limiter requests (UNAVAILABLE); first step of a stop.
  void StopAdmitting() { limiter_->Close(); }
  // Stops the snapshot thread, takes a final snapshot and closes the log. Call
  // after the gRPC server has stopped. Idempotent.
  absl::Status Close();

  v1::ReplayStatus Status() const;
  ReplayTable* table() { return table_.get(); }
  RateLimiter* limiter() { return limiter_.get(); }
  ShardMetrics* metrics() { return metrics_.get(); }
  const ShardOptions& options() const { return options_; }
  // Rows the recovery restored from the snapshot and the log.
  int64_t recovered_rows() const { return recovered_rows_; }
  int64_t max_batch_rows() const { return max_batch_rows_; }

 private:
  explicit ReplayShard(const ShardOptions& options);
  absl::Status Recover();
  void SnapshotLoop();

  ShardOptions options_;
  FileSystem* fs_;
  std::unique_ptr<ReplayTable> table_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<MetricsRegistry> own_registry_;  // when the caller gave none
  std::unique_ptr<ShardMetrics> metrics_;
  int64_t recovered_rows_ = 0;
  int64_t max_batch_rows_ = 0;
  uint64_t next_segment_ = 0;

  // Orders table inserts and log appends (log order == key order) and makes a
  // snapshot's copy and the log roll one step.
  absl::Mutex insert_mu_ ABSL_ACQUIRED_AFTER(snapshot_mu_);
  std::unique_ptr<WriteAheadLog> wal_;  // set in Create, reset in Close
  absl::Mutex snapshot_mu_;             // one snapshot at a time
  // The table copy of the last snapshot, kept so the next copy reuses its pages.
  TableContents snapshot_copy_ ABSL_GUARDED_BY(snapshot_mu_);
  absl::Notification stop_snapshots_;
  std::thread snapshot_thread_;
  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_SHARD_H_

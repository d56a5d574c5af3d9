#include "replay_server/shard.h"

#include <algorithm>
#include <atomic>
#include <random>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/task_shape.h"
#include "replay_server/snapshot.h"

namespace sac::replay {

absl::StatusOr<const TaskShape*> ShardTaskShape(const std::string& task) {
  absl::StatusOr<const TaskShape*> shape = FindTaskShape(task);
  if (!shape.ok() && !absl::StrContains(task, "-v")) {
    if (absl::StatusOr<const TaskShape*> v5 = FindTaskShape(absl::StrCat(task, "-v5")); v5.ok()) {
      return v5;
    }
  }
  return shape;
}

absl::StatusOr<ShardOptions> ShardOptionsFromConfig(const v1::ReplayServerConfig& config) {
  ShardOptions o;
  o.shard_index = config.shard_index();
  int64_t obs = config.obs_dim(), act = config.act_dim();
  if ((obs == 0 || act == 0)) {
    if (config.task().empty()) {
      return absl::InvalidArgumentError(
          "obs_dim/act_dim: set both, or set task to take them from it");
    }
    absl::StatusOr<const TaskShape*> shape = ShardTaskShape(config.task());
    if (!shape.ok()) return Annotate(shape.status(), "task");
    if (obs == 0) obs = (*shape)->obs_dim;
    if (act == 0) act = (*shape)->act_dim;
  }
  o.table.spec.obs_dim = obs;
  o.table.spec.act_dim = act;
  o.table.capacity = static_cast<int64_t>(config.capacity());
  o.table.selector = config.selector();
  o.table.priority_exponent = config.priority_exponent();
  // The table's row records, plus (durable) the column copy a snapshot is
  // written from, which the shard keeps between snapshots.
  const int64_t per_row = ReplayTable::StorageBytes(o.table.spec, 1) +
                          (config.durability().enabled() ? o.table.spec.row_bytes() : 0);
  const double bytes = static_cast<double>(config.capacity()) * static_cast<double>(per_row);
  if (bytes > static_cast<double>(config.memory_limit_bytes())) {
    return absl::ResourceExhaustedError(
        absl::StrCat("capacity: ", config.capacity(), " rows x ", per_row, " bytes (",
                     ReplayTable::StorageBytes(o.table.spec, 1), " in the table",
                     config.durability().enabled()
                         ? absl::StrCat(" + ", o.table.spec.row_bytes(), " in the snapshot copy")
                         : std::string(),
                     ") = ", static_cast<uint64_t>(bytes), " bytes exceed memory_limit_bytes ",
                     config.memory_limit_bytes()));
  }
  o.limiter.min_size_to_sample = config.rate_limiter().min_size_to_sample();
  o.limiter.samples_per_insert = config.rate_limiter().samples_per_insert();
  o.limiter.error_buffer = config.rate_limiter().error_buffer();
  if (o.limiter.samples_per_insert > 0 && o.limiter.error_buffer < o.limiter.samples_per_insert) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rate_limiter.error_buffer: ", o.limiter.error_buffer, " is below samples_per_insert ",
        o.limiter.samples_per_insert, " (not even one row could be inserted)"));
  }
  o.durable = config.durability().enabled();
  o.data_dir = config.durability().data_dir();
  if (o.durable && o.data_dir.empty()) {
    return absl::InvalidArgumentError("durability.data_dir: empty while durability.enabled");
  }
  ASSIGN_OR_RETURN(o.wal.fsync, ParseFsyncPolicy(config.durability().fsync()));
  o.wal.group_commit = absl::Seconds(config.durability().group_commit_seconds());
  o.snapshot_interval = absl::Seconds(config.durability().snapshot_interval_seconds());
  o.seed = config.seed();
  o.config_text = ConfigToText(config);
  o.max_message_bytes = config.server().max_message_bytes();
  return o;
}

ShardMetrics::ShardMetrics(MetricsRegistry* r, const std::string& shard) {
  const std::vector<std::string> l = {"shard"};
  const std::vector<std::string> v = {shard};
  inserts = r->AddCounter("sac_replay_inserts_total", "rows inserted", l)->WithLabels(v);
  samples = r->AddCounter("sac_replay_samples_total", "rows sampled", l)->WithLabels(v);
  insert_batches =
      r->AddCounter("sac_replay_insert_batches_total", "batches inserted", l)->WithLabels(v);
  sample_batches =
      r->AddCounter("sac_replay_sample_batches_total", "sample calls served", l)->WithLabels(v);
  auto* rejected = r->AddCounter("sac_replay_rejected_requests_total",
                                 "requests refused by validation", {"shard", "rpc"});
  rejected_insert = rejected->WithLabels({shard, "insert"});
  rejected_sample = rejected->WithLabels({shard, "sample"});
  rejected_update = rejected->WithLabels({shard, "update_priorities"});
  auto* wait = r->AddHistogram("sac_replay_rate_limiter_wait_seconds",
                               "time a request waited on the rate limiter", LatencyBuckets(),
                               {"shard", "op"});
  insert_wait = wait->WithLabels({shard, "insert"});
  sample_wait = wait->WithLabels({shard, "sample"});
  insert_latency =
      r->AddHistogram("sac_replay_insert_latency_seconds",
                      "from a batch received to its ack (incl. log commit)", LatencyBuckets(), l)
          ->WithLabels(v);
  sample_latency = r->AddHistogram("sac_replay_sample_latency_seconds",
                                   "from a sample request to its answer (incl. limiter wait)",
                                   LatencyBuckets(), l)
                       ->WithLabels(v);
  snapshots = r->AddCounter("sac_replay_snapshots_total", "snapshots written", l)->WithLabels(v);
  snapshot_seconds =
      r->AddHistogram("sac_replay_snapshot_duration_seconds", "time to copy and write one snapshot",
                      ExponentialBuckets(0.001, 4, 10), l)
          ->WithLabels(v);
  size = r->AddGauge("sac_replay_table_size", "rows held", l)->WithLabels(v);
  capacity = r->AddGauge("sac_replay_table_capacity", "rows the table can hold", l)->WithLabels(v);
  held_bytes =
      r->AddGauge("sac_replay_held_bytes", "bytes of row storage in use", l)->WithLabels(v);
  blocked_inserters = r->AddGauge("sac_replay_rate_limiter_blocked_inserters",
                                  "insert batches waiting on the rate limiter", l)
                          ->WithLabels(v);
  blocked_samplers = r->AddGauge("sac_replay_rate_limiter_blocked_samplers",
                                 "sample calls waiting on the rate limiter", l)
                         ->WithLabels(v);
  wal_commits =
      r->AddGauge("sac_replay_wal_commits", "group commits of the write-ahead log since start", l)
          ->WithLabels(v);
  wal_bytes = r->AddGauge("sac_replay_wal_written_bytes",
                          "bytes written to the write-ahead log since start", l)
                  ->WithLabels(v);
}

ReplayShard::ReplayShard(const ShardOptions& options)
    : options_(options), fs_(options.fs ? options.fs : PosixFileSystem()) {}

absl::StatusOr<std::unique_ptr<ReplayShard>> ReplayShard::Create(const ShardOptions& options,
                                                                 MetricsRegistry* registry) {
  std::unique_ptr<ReplayShard> shard(new ReplayShard(options));
  ASSIGN_OR_RETURN(shard->table_, ReplayTable::Create(options.table));
  shard->limiter_ = std::make_unique<RateLimiter>(options.limiter);
  if (registry == nullptr) {
    shard->own_registry_ = std::make_unique<MetricsRegistry>();
    registry = shard->own_registry_.get();
  }
  shard->metrics_ = std::make_unique<ShardMetrics>(registry, std::to_string(options.shard_index));
  // Wire bytes of one row in a TransitionBatch, with room for tags and varints.
  const int64_t wire_row = options.table.spec.payload_row_bytes() + 16;
  shard->max_batch_rows_ = std::max<int64_t>(1, (options.max_message_bytes - 4096) / wire_row);
  if (options.durable) {
    RETURN_IF_ERROR(shard->Recover());
    ASSIGN_OR_RETURN(shard->wal_, WriteAheadLog::Open(shard->fs_, options.data_dir, options.wal,
                                                      shard->next_segment_));
    if (options.snapshot_interval > absl::ZeroDuration()) {
      ReplayShard* s = shard.get();
      shard->snapshot_thread_ = std::thread([s] { s->SnapshotLoop(); });
    }
  }
  shard->limiter_->SetCounters(shard->table_->inserts_total(), shard->table_->samples_total());
  shard->limiter_->SetTableSize(shard->table_->size());
  ReplayShard* s = shard.get();
  registry->AddCollector([s] {
    ShardMetrics* m = s->metrics_.get();
    m->size->Set(static_cast<double>(s->table_->size()));
    m->capacity->Set(static_cast<double>(s->table_->capacity()));
    m->held_bytes->Set(static_cast<double>(s->table_->bytes_held()));
    const v1::RateLimiterStatus l = s->limiter_->Status();
    m->blocked_inserters->Set(l.blocked_inserters());
    m->blocked_samplers->Set(l.blocked_samplers());
    absl::MutexLock lock(&s->insert_mu_);
    if (s->wal_ != nullptr) {
      m->wal_commits->Set(static_cast<double>(s->wal_->commits()));
      m->wal_bytes->Set(static_cast<double>(s->wal_->bytes_written()));
    }
  });
  return shard;
}

ReplayShard::~ReplayShard() {
  absl::Status s = Close();
  if (!s.ok()) SAC_LOG(ERROR) << "replay shard close: " << s;
}

absl::Status ReplayShard::Recover() {
  const std::string& dir = options_.data_dir;
  RETURN_IF_ERROR(fs_->CreateDir(dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir));
  std::vector<int64_t> snapshots, segments;
  for (const std::string& name : names) {
    if (int64_t n = ParseSnapshotFileName(name); n >= 0) snapshots.push_back(n);
    if (int64_t n = ParseSegmentFileName(name); n >= 0) segments.push_back(n);
    if (absl::EndsWith(name, ".tmp")) {
      // A snapshot that was being written when the process stopped.
      RETURN_IF_ERROR(fs_->Delete(absl::StrCat(dir, "/", name)));
    }
  }
  std::sort(snapshots.rbegin(), snapshots.rend());
  std::sort(segments.begin(), segments.end());
  uint64_t first_segment = 0;
  for (int64_t n : snapshots) {
    const std::string path = absl::StrCat(dir, "/", SnapshotFileName(static_cast<uint64_t>(n)));
    uint64_t segment = 0;
    auto contents = ReadSnapshot(fs_, path, &segment);
    if (!contents.ok()) {
      SAC_LOG(WARNING) << "skipping snapshot: " << contents.status();
      continue;
    }
    absl::Status s = table_->Restore(*contents);
    if (!s.ok()) return Annotate(s, path);
    first_segment = segment;
    SAC_LOG(INFO) << "restored " << contents->size << " rows from " << path;
    break;
  }
  recovered_rows_ = table_->size();
  for (int64_t n : segments) {
    if (static_cast<uint64_t>(n) >= first_segment) break;
    // Covered by the snapshot (left behind by a stop between the two steps).
    RETURN_IF_ERROR(fs_->Delete(absl::StrCat(dir, "/", SegmentFileName(static_cast<uint64_t>(n)))));
  }
  const TableSpec spec = options_.table.spec;
  uint64_t replayed = 0;
  for (int64_t n : segments) {
    if (static_cast<uint64_t>(n) < first_segment) continue;
    const std::string path = absl::StrCat(dir, "/", SegmentFileName(static_cast<uint64_t>(n)));
    auto result = ReadSegment(fs_, path, [&](const std::string& body) -> absl::Status {
      uint64_t first_key = 0;
      ASSIGN_OR_RETURN(RowsRef rows, DecodeRecord(body, spec, &first_key));
      table_->InsertWithKey(first_key, rows);
      replayed += static_cast<uint64_t>(rows.rows);
      return absl::OkStatus();
    });
    if (!result.ok()) return Annotate(result.status(), path);
    if (result->torn()) {
      SAC_LOG(WARNING) << path << ": torn tail after " << result->records << " records ("
                       << result->file_bytes - result->valid_bytes << " bytes) cut";
      RETURN_IF_ERROR(fs_->Truncate(path, result->valid_bytes));
    }
  }
  recovered_rows_ = table_->size();
  next_segment_ = std::max<uint64_t>(
      first_segment, segments.empty() ? 0 : static_cast<uint64_t>(segments.back()) + 1);
  SAC_LOG(INFO) << "recovered " << table_->size() << " rows (" << replayed
                << " rows replayed from the log), next key " << table_->next_key();
  return absl::OkStatus();
}

void ReplayShard::Insert(const RowsRef& rows, const InsertDone& done) {
  std::string record;
  if (options_.durable) record = EncodeRecord(0, rows, options_.table.spec);
  uint64_t first = 0;
  {
    absl::MutexLock lock(&insert_mu_);
    if (options_.durable && wal_ == nullptr) {
      done(absl::UnavailableError("replay shard is closed"), 0, table_->size());
      return;
    }
    first = table_->Insert(rows);
    if (wal_ != nullptr) {
      SetRecordKey(first, &record);
      const int64_t n = rows.rows;
      ReplayShard* self = this;
      wal_->Append(std::move(record), [self, first, n, done](const absl::Status& s) {
        if (s.ok()) {
          self->metrics_->inserts->Increment(static_cast<double>(n));
          self->metrics_->insert_batches->Increment();
        }
        done(s, first, self->table_->size());
      });
    }
  }
  limiter_->SetTableSize(table_->size());
  if (!options_.durable) {
    metrics_->inserts->Increment(static_cast<double>(rows.rows));
    metrics_->insert_batches->Increment();
    done(absl::OkStatus(), first, table_->size());
  }
}

namespace {

// This thread's generator for the shard's samples: seeded from the shard's
// seed and the thread's index when a seed is set, from entropy otherwise.
absl::BitGen& SampleGenerator(uint64_t seed) {
  static std::atomic<uint64_t> thread_counter{0};
  thread_local absl::BitGen gen = [seed] {
    const uint64_t index = thread_counter.fetch_add(1);
    if (seed == 0) return absl::BitGen();
    std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                      static_cast<uint32_t>(index)};
    return absl::BitGen(seq);
  }();
  return gen;
}

}  // namespace

absl::StatusOr<int64_t> ReplayShard::SampleInto(int64_t batch_size, const SampleColumns& out) {
  ASSIGN_OR_RETURN(const int64_t size,
                   table_->SampleInto(batch_size, SampleGenerator(options_.seed), out));
  metrics_->samples->Increment(static_cast<double>(batch_size));
  metrics_->sample_batches->Increment();
  return size;
}

absl::Status ReplayShard::Snapshot() {
  if (!options_.durable) return absl::FailedPreconditionError("durability: not enabled");
  absl::MutexLock snapshot_lock(&snapshot_mu_);
  const absl::Time start = absl::Now();
  TableContents& contents = snapshot_copy_;
  uint64_t segment = 0;
  {
    absl::MutexLock lock(&insert_mu_);
    if (wal_ == nullptr) return absl::FailedPreconditionError("replay shard is closed");
    table_->CopyInto(&contents);
    segment = wal_->Roll();
  }
  ASSIGN_OR_RETURN(std::string path, WriteSnapshot(fs_, options_.data_dir, contents, segment));
  // Segments below `segment` are covered once the log writes to `segment`: wait
  // for that, or a segment still being opened would be left behind.
  {
    WriteAheadLog* wal = nullptr;
    {
      absl::MutexLock lock(&insert_mu_);
      wal = wal_.get();
    }
    // Close() takes snapshot_mu_ first (held here), so the log outlives this call.
    if (wal != nullptr) RETURN_IF_ERROR(wal->AwaitSegment(segment));
  }
  // The new snapshot is durable: what it covers can go.
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(options_.data_dir));
  for (const std::string& name : names) {
    const int64_t snap = ParseSnapshotFileName(name);
    const int64_t seg = ParseSegmentFileName(name);
    if ((snap >= 0 && static_cast<uint64_t>(snap) < segment) ||
        (seg >= 0 && static_cast<uint64_t>(seg) < segment)) {
      RETURN_IF_ERROR(fs_->Delete(absl::StrCat(options_.data_dir, "/", name)));
    }
  }
  metrics_->snapshots->Increment();
  metrics_->snapshot_seconds->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  SAC_LOG(INFO) << "snapshot " << path << ": " << contents.size << " rows in "
                << absl::FormatDuration(absl::Now() - start);
  return absl::OkStatus();
}

void ReplayShard::SnapshotLoop() {
  while (!stop_snapshots_.WaitForNotificationWithTimeout(options_.snapshot_interval)) {
    absl::Status s = Snapshot();
    if (!s.ok()) SAC_LOG(ERROR) << "snapshot failed: " << s;
  }
}

absl::Status ReplayShard::Close() {
  {
    absl::MutexLock lock(&close_mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
  }
  limiter_->Close();
  if (!stop_snapshots_.HasBeenNotified()) stop_snapshots_.Notify();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  absl::Status status;
  if (options_.durable) {
    status = Snapshot();
    // snapshot_mu_ keeps a concurrent Snapshot() from using the log while it closes.
    absl::MutexLock snapshot_lock(&snapshot_mu_);
    std::unique_ptr<WriteAheadLog> wal;
    {
      absl::MutexLock lock(&insert_mu_);
      wal = std::move(wal_);
    }
    if (wal != nullptr) {
      absl::Status c = wal->Close();
      if (status.ok()) status = c;
    }
  }
  return status;
}

v1::ReplayStatus ReplayShard::Status() const {
  v1::ReplayStatus s;
  s.set_shard_index(options_.shard_index);
  s.set_size(static_cast<uint64_t>(table_->size()));
  s.set_capacity(static_cast<uint64_t>(table_->capacity()));
  s.set_inserts_total(table_->inserts_total());
  s.set_samples_total(table_->samples_total());
  s.set_bytes_held(static_cast<uint64_t>(table_->bytes_held()));
  s.set_obs_dim(static_cast<uint32_t>(options_.table.spec.obs_dim));
  s.set_act_dim(static_cast<uint32_t>(options_.table.spec.act_dim));
  s.set_selector(table_->selector_name());
  *s.mutable_limiter() = limiter_->Status();
  s.set_config_text(options_.config_text);
  return s;
}

}  // namespace sac::replay

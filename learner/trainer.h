// Trainer: the sac-learner process's work. It samples batches from all replay
// shards (their rate limiters pace it at the configured samples per insert),
// runs one SacLearner update per batch, publishes a policy version every
// `publish_every_updates`, writes a safetensors snapshot every
// `snapshot_every_versions` (keeping `snapshot_retention`), checkpoints every
// `checkpoint_interval_seconds` and at stop, and asks the Evaluator for an
// evaluation every `eval_every_env_steps`. On start it resumes from the newest
// valid checkpoint in `<run_dir>/checkpoints` (torn or foreign files are
// skipped with a message).
//
// With `tensorboard.enabled` (the default) it writes TensorBoard event files
// into `<run_dir>` (EventFileWriter: never blocks, never fails training). Every
// `tensorboard.interval_seconds`, at the first refresh of the env steps (once a
// second) after it, one training record at step = env steps: the
// means over the updates since the last record of loss/q1, loss/q2,
// loss/policy, loss/v (v1) or loss/temperature (v2), train/temperature,
// train/entropy, train/q1_mean; train/updates (the count at the record);
// throughput/updates_per_second and throughput/env_steps_per_second over the
// interval. A last record at stop covers the updates since the one before.
// The Evaluator adds eval/* at the env steps of each evaluation.
//
// Policy versions are never reused: before publishing a version above the
// durable high-water mark (`<run_dir>/policy_versions.txtpb`, a
// PolicyVersionMark) the trainer reserves the next kVersionReserve versions
// there, so a restart (from a checkpoint or from scratch) publishes its first
// version above every version ever published and above every snapshot file on
// disk, and never overwrites a snapshot. Numbering may skip up to
// kVersionReserve - 1 versions at a restart.
//
// Thread-safety: Run() on one thread; Status() from any thread.
#ifndef SAC_LEARNER_TRAINER_H_
#define SAC_LEARNER_TRAINER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "learner/evaluator.h"
#include "learner/event_file_writer.h"
#include "learner/policy_service.h"
#include "learner/sac_learner.h"
#include "replay_client/replay_sampler.h"
#include "sac/v1/learner_config.pb.h"
#include "sac/v1/learner_state.pb.h"
#include "sac/v1/status.pb.h"

namespace sac::learner {

class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const v1::LearnerConfig& config,
                                                         MetricsRegistry* metrics);
  ~Trainer();

  PolicyStore* policy_store() { return store_.get(); }

  // Trains until `stop` or max_updates, then checkpoints. Errors are fatal ones
  // (a checkpoint that cannot be written, a learner error).
  absl::Status Run(const absl::Notification& stop);

  v1::LearnerStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t updates() const;

  // Checkpoint file of `updates` in `dir`.
  static std::string CheckpointPath(const std::string& dir, uint64_t updates);
  // The high-water mark file of `run_dir`.
  static std::string VersionMarkPath(const std::string& run_dir);
  // Versions reserved per write of the mark: one durable write (about 20 ms
  // here) per this many publishes.
  static constexpr uint64_t kVersionReserve = 100;

 private:
  explicit Trainer(const v1::LearnerConfig& config) : config_(config) {}
  absl::Status Resume();
  // Versions above which a restart must number: the mark and the snapshot
  // files on disk (runs from before the mark existed).
  uint64_t VersionFloor() const;
  // Makes `version` durable in the mark before it is published.
  absl::Status ReserveVersion(uint64_t version);
  absl::Status Checkpoint();
  // Publishes the current policy as the next version; `snapshot` forces a
  // snapshot file (else every snapshot_every_versions).
  // `for_evaluation`: the version goes to the evaluator, and its snapshot is
  // kept past snapshot_retention until a newer evaluation has finished.
  absl::Status Publish(bool snapshot = false, bool for_evaluation = false);
  void RefreshEnvSteps();
  double WallTime() const;
  // Writes the TensorBoard training record of the updates since the last one
  // (none when there were none) and starts the next interval.
  void WriteTrainingRecord(std::chrono::steady_clock::time_point now);

  const v1::LearnerConfig config_;
  std::unique_ptr<SacLearner> learner_;
  std::unique_ptr<replay::ReplaySampler> sampler_;
  std::unique_ptr<PolicyStore> store_;
  std::unique_ptr<EventFileWriter> events_;  // before evaluator_, which writes to it
  std::unique_ptr<Evaluator> evaluator_;
  std::string checkpoint_dir_;
  absl::Time started_ = absl::Now();
  double wall_time_before_ = 0;    // from checkpoints of earlier runs
  uint64_t reserved_through_ = 0;  // the mark on disk (Create's and Run's thread)

  mutable absl::Mutex mu_;
  v1::LearnerProcessState state_ ABSL_GUARDED_BY(mu_);
  UpdateMetrics last_metrics_ ABSL_GUARDED_BY(mu_);
  double updates_per_second_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> env_steps_{0};
  std::atomic<uint64_t> updates_{0};  // learner_->updates(), readable from any thread
  // Versions handed to the evaluator whose result is not yet the newest one
  // finished (their snapshots are kept past snapshot_retention, see Publish).
  std::vector<uint64_t> eval_versions_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> shard_inserts_;  // last inserts_total each shard reported (Run's thread)
  // The TensorBoard training record being summed (Run's thread).
  struct RecordSums {
    double q1_loss = 0, q2_loss = 0, v_loss = 0, policy_loss = 0, temperature_loss = 0;
    double temperature = 0, entropy = 0, q1_mean = 0;
    uint64_t updates = 0;  // summed updates
    std::chrono::steady_clock::time_point start;
    uint64_t start_updates = 0, start_env_steps = 0;
  };
  RecordSums record_;

  Counter* updates_total_;
  Counter* sample_errors_total_;
  Counter* checkpoints_total_;
  Family<Gauge>* loss_;
  Gauge* temperature_;
  Gauge* entropy_;
  Gauge* env_steps_gauge_;
  Gauge* q_mean_;
  Histogram* sample_seconds_;
  Histogram* update_seconds_;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_TRAINER_H_

// Actor: what one sac-actor process does. It steps an EnvBatch of E
// environments with one batched policy forward per step (uniform random actions
// while it has no policy yet or for its first `random_steps`), records every
// transition with the policy version that acted, and sends them to the replay
// shards in batches (round robin over the shards whose writer has room, so a
// shard that is away does not hold up the others; each shard acknowledges). New
// policy versions arrive on a WatchPolicy stream from the learner and are
// switched in between steps; while the learner is away the actor keeps acting
// with the weights it has and reconnects with backoff.
//
// Thread-safety: Run() on one thread; Status() from any thread.
#ifndef SAC_ACTOR_ACTOR_H_
#define SAC_ACTOR_ACTOR_H_

#include <atomic>
#include <deque>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/metrics.h"
#include "envs/env_batch.h"
#include "policy/policy_mlp.h"
#include "replay_client/replay_writer.h"
#include "sac/v1/actor_config.pb.h"
#include "sac/v1/status.pb.h"

namespace sac::actor {

class Actor {
 public:
  static absl::StatusOr<std::unique_ptr<Actor>> Create(const v1::ActorConfig& config,
                                                       MetricsRegistry* metrics);
  ~Actor();

  // Steps until `stop` is notified or max_env_steps is reached, then flushes
  // what it has to the shards (bounded wait). Errors: an env error (a bug).
  absl::Status Run(const absl::Notification& stop);

  v1::ActorStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);

  // Hands the actor weights as if the learner had published them (switched in
  // before the next step). For tools and benchmarks that run without a learner.
  void SetPolicy(std::unique_ptr<PolicyMlp> policy) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit Actor(const v1::ActorConfig& config) : config_(config) {}
  void WatchPolicyLoop();
  // Sends the rows gathered so far as one batch (when `flush`, or once
  // send_batch_rows are there). Waits while every writer is full; gives up
  // (dropping the unacknowledged rows) once `stop` is notified, after up to
  // 10 s when flushing.
  absl::Status SendPending(bool flush, const absl::Notification* stop);
  // Appends this step's rows; `acted_version` is the policy that chose the
  // actions (0: uniform random).
  void AppendStep(uint64_t acted_version);
  void RecordEpisodes();

  const v1::ActorConfig config_;
  std::unique_ptr<envs::EnvBatch> envs_;
  std::vector<std::unique_ptr<replay::ReplayWriter>> writers_;
  size_t next_writer_ = 0;
  std::string token_;

  // The policy acting now, and one that arrived and waits for the next step.
  std::unique_ptr<PolicyMlp> policy_;
  mutable absl::Mutex mu_;
  std::unique_ptr<PolicyMlp> incoming_ ABSL_GUARDED_BY(mu_);
  uint64_t latest_seen_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<double> recent_returns_ ABSL_GUARDED_BY(mu_);
  uint64_t episodes_ ABSL_GUARDED_BY(mu_) = 0;
  double steps_per_second_ ABSL_GUARDED_BY(mu_) = 0;
  void* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;  // grpc::ClientContext* while watching
  std::atomic<uint64_t> env_steps_{0};
  std::atomic<uint64_t> acting_version_{0};
  std::atomic<bool> stopping_{false};
  absl::Notification watch_stop_;
  std::thread watch_thread_;

  std::mt19937_64 rng_;
  std::vector<float> actions_;
  // Columns of the batch being filled.
  std::vector<float> obs_, action_, reward_, next_obs_;
  std::string terminated_, truncated_;
  std::vector<uint64_t> versions_;
  int rows_ = 0;

  Counter* steps_total_;
  Counter* episodes_total_;
  Counter* rows_sent_total_;
  Counter* policy_switches_total_;
  Histogram* episode_return_;
  Histogram* episode_length_;
  Gauge* recent_return_;
  Gauge* policy_version_;
  Gauge* policy_lag_;
  Histogram* step_seconds_;
  Histogram* inference_seconds_;
};

}  // namespace sac::actor

#endif  // SAC_ACTOR_ACTOR_H_

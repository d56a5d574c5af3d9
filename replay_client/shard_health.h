// ShardHealth: which replay shards a ReplaySampler samples from, and each
// one's size at its last answer. A shard whose call found it unreachable
// (connection refused or reset, shutting down, or no GetStatus answer in time:
// hung, partitioned) is marked down and left out of sampling; while down it is
// probed in the background with GetStatus, with exponential backoff between
// probes (from `initial_backoff`, doubling up to `max_backoff`), and it is back
// in as soon as a probe answers. Used by ReplaySampler only (this header, unlike
// replay_sampler.h, includes the gRPC stubs).
//
// Thread-safety: thread-safe. Probe answers arrive on gRPC's threads.
#ifndef SAC_REPLAY_CLIENT_SHARD_HEALTH_H_
#define SAC_REPLAY_CLIENT_SHARD_HEALTH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay {

class ShardHealth {
 public:
  // `stubs[i]` (not owned; must outlive this object) serves shard i at
  // `addresses[i]`; `token` goes with every probe when not empty.
  ShardHealth(std::vector<v1::ReplayService::Stub*> stubs, std::vector<std::string> addresses,
              std::string token, absl::Duration initial_backoff, absl::Duration max_backoff);
  // Cancels the probes in flight and waits for their callbacks.
  ~ShardHealth();
  ShardHealth(const ShardHealth&) = delete;
  ShardHealth& operator=(const ShardHealth&) = delete;

  size_t num_shards() const { return addresses_.size(); }

  // Per shard: whether it is in sampling, and its rows at its last answer (0
  // for a shard left out).
  void Get(std::vector<bool>* up, std::vector<uint64_t>* sizes) const;
  // Records an answer of shard i that reported `size` rows.
  void RecordSize(size_t i, uint64_t size);
  // Leaves shard i out (a call found it unreachable with `error`) until a
  // probe answers; the next probe is due after the current backoff, which
  // then doubles. Logs once when the shard goes from up to down.
  void MarkDown(size_t i, const std::string& error);
  // UNAVAILABLE naming shard i, its address and why it is left out; OK for a
  // shard in sampling.
  absl::Status DownError(size_t i) const;
  // UNAVAILABLE "no replay shard answers: " with each shard's DownError.
  absl::Status NoShardError() const;

  // Probes the shards left out whose backoff has passed.
  void ProbeDue(absl::Duration timeout);
  // An asynchronous GetStatus of shard i (none if one is in flight), with a
  // deadline of min(timeout, max_backoff): an answer brings it (back) into
  // sampling with its size and resets its backoff; no answer (UNAVAILABLE or
  // DEADLINE_EXCEEDED) leaves it out until the next probe. Any other error
  // (a bad token, say) leaves its state as it was.
  void Probe(size_t i, absl::Duration timeout);
  // Waits up to `timeout` until no probe is in flight; true when none is.
  bool AwaitProbes(absl::Duration timeout) const;

 private:
  // One GetStatus in flight.
  struct ProbeCall {
    grpc::ClientContext context;
    v1::ReplayStatusRequest request;
    v1::ReplayStatus response;
  };
  struct Shard {
    uint64_t size = 0;       // rows at its last answer
    bool down = false;       // left out of sampling until a probe answers
    absl::Time retry_at;     // next probe while down
    absl::Duration backoff;  // before the probe after that
    std::string error;       // why it is down
    bool probing = false;
    std::shared_ptr<ProbeCall> probe;
  };
  // Shared with the probes' callbacks, which hold a reference until they end.
  struct State {
    absl::Mutex mu;
    std::vector<Shard> shards ABSL_GUARDED_BY(mu);
    int probes_in_flight ABSL_GUARDED_BY(mu) = 0;
  };

  static void MarkDownLocked(State* state, size_t i, const std::string& address,
                             const std::string& error, absl::Duration max_backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu);
  absl::Status DownErrorLocked(size_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu);

  const std::vector<v1::ReplayService::Stub*> stubs_;
  const std::vector<std::string> addresses_;
  const std::string token_;
  const absl::Duration initial_backoff_;
  const absl::Duration max_backoff_;
  const std::shared_ptr<State> state_;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_CLIENT_SHARD_HEALTH_H_

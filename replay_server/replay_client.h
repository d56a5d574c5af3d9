// The client side of the replay service, used by actors (ReplayWriter) and the
// learner (ReplaySampler). No gRPC headers here: the stubs live in the .cc.
//
// ReplayWriter: inserts batches into ONE shard over the Insert stream, from a
// background thread. Each batch gets a sequence number and stays in memory until
// the shard acknowledges it; at most `max_in_flight_batches` / `_bytes` are held
// (Write waits beyond that: the memory bound). When the stream breaks (shard
// restart, network), the writer reconnects with exponential backoff and sends
// the unacknowledged batches again, in order. Delivery is at least once: a batch
// stored by a shard that crashed before acking it is sent again (a duplicate row
// in a replay buffer is harmless); an acknowledged batch is never dropped. A
// batch the shard refuses as invalid (INVALID_ARGUMENT, RESOURCE_EXHAUSTED,
// FAILED_PRECONDITION) is dropped, counted, and its error kept for `Flush`.
//
// ReplaySampler: draws one batch over S shards. The B rows are split among the
// shards by a multinomial draw with probabilities proportional to the shards'
// sizes, and each shard samples its part uniformly: every row of the union is
// then equally likely. The parts are fetched in parallel and merged into one
// columnar batch (rows of shard 0 first) with keys, the shard of each row, and
// the probability of each row in the union (shard probability x shard share).
// A shard that does not answer (connection refused or reset, shutting down, or
// no answer to GetStatus within the deadline: hung, partitioned) is left out:
// the split goes over the shards that answer (the union is then theirs), and
// the failed call is an error for that one Sample. The left-out shard is probed
// in the background with GetStatus, with exponential backoff (the client
// config's initial/max backoff), and joins the split again once it answers. A
// Sample that runs past its deadline on a shard's rate limiter is not a fault
// (the shard still answers GetStatus at once) and leaves it in.
//
// Thread-safety: ReplayWriter::Write/Flush are thread-safe; ReplaySampler is
// thread-safe.
#ifndef SAC_REPLAY_SERVER_REPLAY_CLIENT_H_
#define SAC_REPLAY_SERVER_REPLAY_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sac/v1/config_common.pb.h"
#include "sac/v1/replay.pb.h"

namespace sac::replay {

struct WriterOptions {
  std::string address;        // host:port of the shard
  v1::ClientConfig client;    // TLS, token file, backoff
  int max_in_flight_batches = 16;
  int64_t max_in_flight_bytes = 64 << 20;
  int max_message_bytes = 64 << 20;
};

struct WriterStats {
  uint64_t written_batches = 0;  // accepted by Write
  uint64_t acked_batches = 0;
  uint64_t acked_rows = 0;
  uint64_t rejected_batches = 0;  // refused by the shard as invalid
  uint64_t reconnects = 0;
  uint64_t in_flight = 0;
};

class ReplayWriter {
 public:
  static absl::StatusOr<std::unique_ptr<ReplayWriter>> Create(const WriterOptions& options);
  virtual ~ReplayWriter() = default;  // stops; batches not yet acked are abandoned

  // Queues `batch`; waits while the in-flight bound is reached, up to `timeout`
  // (DEADLINE_EXCEEDED then, and the batch is not queued). Returns its sequence
  // number. UNAVAILABLE after Close.
  virtual absl::StatusOr<uint64_t> Write(v1::TransitionBatch batch,
                                         absl::Duration timeout = absl::InfiniteDuration()) = 0;
  // Waits until every queued batch is acknowledged (or refused). Returns the
  // first refusal since the last Flush, DEADLINE_EXCEEDED on timeout.
  virtual absl::Status Flush(absl::Duration timeout) = 0;
  // Flushes up to `timeout`, then closes the stream.
  virtual absl::Status Close(absl::Duration timeout) = 0;
  virtual WriterStats stats() const = 0;
  // Called (on the writer's thread) for each acknowledged batch: sequence,
  // first key, rows. Set before the first Write.
  virtual void SetAckObserver(std::function<void(uint64_t sequence, uint64_t first_key,
                                                 int64_t rows)> observer) = 0;
};

struct SamplerOptions {
  std::vector<std::string> addresses;  // one per shard, shard i at index i
  v1::ClientConfig client;
  int max_message_bytes = 64 << 20;
  uint64_t seed = 0;  // of the split; 0: random
};

struct MergedSample {
  v1::SampleResponse response;  // batch, key, probability (in the union); table_size = union size
  std::vector<uint32_t> shard;  // shard index of each row
};

class ReplaySampler {
 public:
  static absl::StatusOr<std::unique_ptr<ReplaySampler>> Create(const SamplerOptions& options);
  virtual ~ReplaySampler() = default;

  // Draws `batch_size` rows over the shards, waiting on their rate limiters up
  // to `timeout`. Shard sizes come from the previous answers (GetStatus at first
  // or when every known size is 0).
  virtual absl::StatusOr<MergedSample> Sample(int batch_size, absl::Duration timeout) = 0;
  // GetStatus of every shard, in shard order; the first failure fails it all.
  virtual absl::StatusOr<std::vector<v1::ReplayStatus>> Status(absl::Duration timeout) = 0;
  // GetStatus of each shard, in shard order, each its answer or its error. A
  // shard left out of sampling is not called (its error says why it is out), so
  // a hung shard costs the caller no wait once it has been found.
  virtual std::vector<absl::StatusOr<v1::ReplayStatus>> StatusEach(absl::Duration timeout) = 0;
  // Sets priorities of rows of one shard (prioritized tables).
  virtual absl::StatusOr<uint64_t> UpdatePriorities(uint32_t shard,
                                                    const std::vector<uint64_t>& keys,
                                                    const std::vector<float>& priorities,
                                                    absl::Duration timeout) = 0;
  virtual int num_shards() const = 0;
};

// Splits `batch_size` among shards of `sizes` rows by a multinomial draw with
// probabilities sizes[i] / sum (exposed for tests). All sizes 0: all zeros.
std::vector<int> SplitBatch(int batch_size, const std::vector<uint64_t>& sizes,
                            absl::BitGenRef gen);

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_REPLAY_CLIENT_H_

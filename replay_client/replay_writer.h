// ReplayWriter: the client side of the replay service's Insert stream, used by
// actors. It inserts batches into ONE shard from a background thread. No gRPC
// headers here: the stubs live in the .cc.
//
// Each batch gets a sequence number and stays in memory until the shard
// acknowledges it; at most `max_in_flight_batches` / `_bytes` are held (Write
// waits beyond that: the memory bound). When the stream breaks (shard restart,
// network), the writer reconnects with exponential backoff and sends the
// unacknowledged batches again, in order. Delivery is at least once: a batch
// stored by a shard that crashed before acking it is sent again (a duplicate
// row in a replay buffer is harmless); an acknowledged batch is never dropped.
// A batch the shard refuses as invalid (INVALID_ARGUMENT, RESOURCE_EXHAUSTED,
// FAILED_PRECONDITION) is dropped, counted, and its error kept for `Flush`.
//
// Thread-safety: Write/Flush/Close/stats are thread-safe.
#ifndef SAC_REPLAY_CLIENT_REPLAY_WRITER_H_
#define SAC_REPLAY_CLIENT_REPLAY_WRITER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sac/v1/config_common.pb.h"
#include "sac/v1/transition.pb.h"

namespace sac::replay {

struct WriterOptions {
  std::string address;      // host:port of the shard
  v1::ClientConfig client;  // TLS, token file, backoff
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
  virtual absl::StatusOr<uint64_t> Write(v1::TransitionBatch batch, absl::Duration timeout) = 0;
  // Write with no timeout.
  absl::StatusOr<uint64_t> Write(v1::TransitionBatch batch) {
    return Write(std::move(batch), absl::InfiniteDuration());
  }
  // Waits until every queued batch is acknowledged (or refused). Returns the
  // first refusal since the last Flush, DEADLINE_EXCEEDED on timeout.
  virtual absl::Status Flush(absl::Duration timeout) = 0;
  // Flushes up to `timeout`, then closes the stream.
  virtual absl::Status Close(absl::Duration timeout) = 0;
  virtual WriterStats stats() const = 0;
  // Called (on the writer's thread) for each acknowledged batch: sequence,
  // first key, rows. Set before the first Write.
  virtual void SetAckObserver(
      std::function<void(uint64_t sequence, uint64_t first_key, int64_t rows)> observer) = 0;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_CLIENT_REPLAY_WRITER_H_

// ResponseBudget: a bound on the memory that a server's pending responses hold.
//
// Why: a gRPC response stays in memory until the transport has written it,
// and a client that never reads (grants no HTTP/2 flow-control window) keeps
// it there for as long as its call lasts. Clients requesting large samples and
// never reading grew a shard by 8.6 MB a call without pushback. Every large
// response is therefore built in a buffer reserved here: the reservation is
// counted against the client's connection (`per_client_bytes`) and the whole
// process (`total_bytes`) from before the response is built until gRPC frees
// its bytes (written out, or the call ended), and a response that would pass
// either bound is refused with RESOURCE_EXHAUSTED instead (the caller may
// retry once its earlier answers are read). A client that stalls its own
// connection thus cannot take the memory other clients' answers need, unless
// it opens total_bytes / per_client_bytes connections.
//
// Freed response memory is given back to the kernel (malloc_trim) when the
// pending bytes fall to zero after having held more than kTrimAboveBytes.
//
// Thread-safe. Reservations and slices keep the budget's state alive, so they
// may outlive the ResponseBudget object.
#ifndef SAC_COMMON_RESPONSE_BUDGET_H_
#define SAC_COMMON_RESPONSE_BUDGET_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/metrics.h"

namespace sac {

class ResponseBudget {
 public:
  static constexpr int64_t kTrimAboveBytes = 16 << 20;

  // `pending` (bytes held now) and `refused` (responses refused) may be null.
  ResponseBudget(int64_t total_bytes, int64_t per_client_bytes, Gauge* pending = nullptr,
                 Counter* refused = nullptr);
  ~ResponseBudget();

  // Bytes reserved for one response to `client` (gRPC's peer string: one per
  // connection); released when destroyed.
  class Reservation;

  // Reserves `bytes` for a response to `client`; RESOURCE_EXHAUSTED naming the
  // bound when the client's or the process's pending bytes would pass it.
  absl::StatusOr<std::unique_ptr<Reservation>> Reserve(absl::string_view client, int64_t bytes);

  // Reserves `size` bytes and lets `fill(uint8_t* data)` write them; the
  // result holds them as one slice, released when gRPC frees it.
  template <typename Fill>
  absl::StatusOr<grpc::ByteBuffer> Build(absl::string_view client, size_t size, Fill&& fill) {
    auto reservation = Reserve(client, static_cast<int64_t>(size));
    if (!reservation.ok()) return reservation.status();
    uint8_t* data = nullptr;
    grpc::ByteBuffer out = Allocate(std::move(*reservation), size, &data);
    fill(data);
    return out;
  }

  // `message` serialized into a reserved buffer.
  template <typename Message>
  absl::StatusOr<grpc::ByteBuffer> Serialize(absl::string_view client, const Message& message) {
    return Build(client, message.ByteSizeLong(),
                 [&message](uint8_t* data) { message.SerializeWithCachedSizesToArray(data); });
  }

  int64_t pending_bytes() const;

  // A buffer of `size` bytes (returned in `*data`, for the caller to fill
  // before the buffer is sent) as a ByteBuffer of one slice that owns
  // `reservation` until gRPC frees the slice. `size` may be less than the
  // reservation (reserved for the largest answer, built for the actual one).
  static grpc::ByteBuffer Allocate(std::unique_ptr<Reservation> reservation, size_t size,
                                   uint8_t** data);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

class ResponseBudget::Reservation {
 public:
  ~Reservation();
  int64_t bytes() const { return bytes_; }

 private:
  friend class ResponseBudget;
  Reservation(std::shared_ptr<State> state, std::string client, int64_t bytes)
      : state_(std::move(state)), client_(std::move(client)), bytes_(bytes) {}
  std::shared_ptr<State> state_;
  std::string client_;
  int64_t bytes_;
};

}  // namespace sac

#endif  // SAC_COMMON_RESPONSE_BUDGET_H_

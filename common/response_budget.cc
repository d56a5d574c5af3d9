#include "common/response_budget.h"

#include <grpc/slice.h>
#include <grpcpp/support/slice.h>
#include <malloc.h>

#include <cstdlib>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace sac {

struct ResponseBudget::State {
  State(int64_t total, int64_t per_client, Gauge* pending_gauge, Counter* refused_counter)
      : total_bytes(total),
        per_client_bytes(per_client),
        pending(pending_gauge),
        refused(refused_counter) {}

  void Release(const std::string& client, int64_t bytes) {
    bool trim = false;
    {
      absl::MutexLock lock(&mu);
      held -= bytes;
      auto it = by_client.find(client);
      if (it != by_client.end() && (it->second -= bytes) <= 0) by_client.erase(it);
      if (pending != nullptr) pending->Set(static_cast<double>(held));
      if (held == 0 && peak_since_trim > kTrimAboveBytes) {
        peak_since_trim = 0;
        trim = true;
      }
    }
    // Back to the kernel: the freed response buffers would otherwise stay in
    // malloc's arenas (the servers keep freed memory for reuse).
    if (trim) malloc_trim(0);
  }

  const int64_t total_bytes;
  const int64_t per_client_bytes;
  Gauge* const pending;
  Counter* const refused;
  mutable absl::Mutex mu;
  int64_t held ABSL_GUARDED_BY(mu) = 0;
  int64_t peak_since_trim ABSL_GUARDED_BY(mu) = 0;
  absl::flat_hash_map<std::string, int64_t> by_client ABSL_GUARDED_BY(mu);
};

ResponseBudget::ResponseBudget(int64_t total_bytes, int64_t per_client_bytes, Gauge* pending,
                               Counter* refused)
    : state_(std::make_shared<State>(total_bytes, per_client_bytes, pending, refused)) {}

ResponseBudget::~ResponseBudget() = default;

ResponseBudget::Reservation::~Reservation() { state_->Release(client_, bytes_); }

absl::StatusOr<std::unique_ptr<ResponseBudget::Reservation>> ResponseBudget::Reserve(
    absl::string_view client, int64_t bytes) {
  State& s = *state_;
  {
    absl::MutexLock lock(&s.mu);
    auto it = s.by_client.find(client);
    const int64_t client_held = it == s.by_client.end() ? 0 : it->second;
    const char* bound = nullptr;
    int64_t limit = 0, held = 0;
    if (client_held + bytes > s.per_client_bytes) {
      bound = "server.max_pending_response_bytes_per_client";
      limit = s.per_client_bytes;
      held = client_held;
    } else if (s.held + bytes > s.total_bytes) {
      bound = "server.max_pending_response_bytes";
      limit = s.total_bytes;
      held = s.held;
    }
    if (bound != nullptr) {
      if (s.refused != nullptr) s.refused->Increment();
      return absl::ResourceExhaustedError(absl::StrCat(
          "a response of ", bytes, " bytes would pass ", bound, " (", limit, " bytes; ", held,
          " held by answers not yet read): read the earlier answers, then retry"));
    }
    s.by_client[std::string(client)] = client_held + bytes;
    s.held += bytes;
    s.peak_since_trim = std::max(s.peak_since_trim, s.held);
    if (s.pending != nullptr) s.pending->Set(static_cast<double>(s.held));
  }
  return std::unique_ptr<Reservation>(new Reservation(state_, std::string(client), bytes));
}

int64_t ResponseBudget::pending_bytes() const {
  absl::MutexLock lock(&state_->mu);
  return state_->held;
}

namespace {

struct SliceOwner {
  std::unique_ptr<ResponseBudget::Reservation> reservation;
  void* data;
};

void FreeSlice(void* p) {
  auto* owner = static_cast<SliceOwner*>(p);
  std::free(owner->data);
  delete owner;  // releases the reservation
}

}  // namespace

grpc::ByteBuffer ResponseBudget::Allocate(std::unique_ptr<Reservation> reservation, size_t size,
                                          uint8_t** data) {
  void* bytes = std::malloc(size == 0 ? 1 : size);
  if (bytes == nullptr) std::abort();
  auto* owner = new SliceOwner{std::move(reservation), bytes};
  grpc::Slice slice(grpc_slice_new_with_user_data(bytes, size, FreeSlice, owner),
                    grpc::Slice::STEAL_REF);
  *data = static_cast<uint8_t*>(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace sac

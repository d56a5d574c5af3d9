// RateLimiter: keeps a shard's samples-per-insert ratio inside a tolerance band
// and holds samples back until the table has a minimum size, as Reverb's
// RateLimiter does. Calls beyond the band wait; waiting never blocks a gRPC
// thread: a caller hands a callback that runs once the call is admitted, its
// deadline passes, it is cancelled, or the limiter is closed.
//
// Ratio (spi = samples_per_insert, counts in rows):
//   diff = inserts * spi - samples
//   min_diff = spi * min_size_to_sample - error_buffer
//   max_diff = spi * min_size_to_sample + error_buffer
// An insert of n rows is admitted while the table holds <= min_size rows after
// it, or while diff + n * spi <= max_diff. A sample of n rows is admitted when the
// table holds >= max(1, min_size) rows and diff - n >= min_diff. spi = 0 turns
// the ratio off (only the minimum size applies). One request may use at most
// half the band (n * spi <= error_buffer for inserts, n <= error_buffer for
// samples; CheckRequest), which makes a state where both sides wait impossible.
//
// Thread-safety: thread-safe. Callbacks never run under the limiter's lock: the
// immediate ones on the caller's thread, deferred ones on the limiter's own thread.
#ifndef SAC_REPLAY_SERVER_RATE_LIMITER_H_
#define SAC_REPLAY_SERVER_RATE_LIMITER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sac/v1/replay.pb.h"

namespace sac::replay {

struct RateLimiterOptions {
  uint64_t min_size_to_sample = 1;
  double samples_per_insert = 0;
  double error_buffer = 0;
};

class RateLimiter {
 public:
  // Called exactly once per admitted-or-failed request with OK (admitted: the
  // caller now does the insert/sample), DEADLINE_EXCEEDED, or UNAVAILABLE
  // (closed). `waited` is the time spent waiting.
  using Callback = std::function<void(absl::Status status, absl::Duration waited)>;
  // Identifies a waiting request, for Cancel; 0 when it did not wait.
  using Ticket = uint64_t;

  explicit RateLimiter(const RateLimiterOptions& options);
  ~RateLimiter();  // closes, joins the thread
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // INVALID_ARGUMENT/FAILED_PRECONDITION naming `field` when a request of `rows`
  // could never be admitted under these options.
  absl::Status CheckInsert(int64_t rows, absl::string_view field) const;
  absl::Status CheckSample(int64_t rows, absl::string_view field) const;

  // Asks to insert (or sample) `rows`. When admitted at once, `done` runs before
  // this returns and the ticket is 0; otherwise the request waits until admitted,
  // `deadline` (absl::InfiniteFuture() for none) or Close.
  Ticket AwaitInsert(int64_t rows, absl::Time deadline, Callback done) ABSL_LOCKS_EXCLUDED(mu_);
  Ticket AwaitSample(int64_t rows, absl::Time deadline, Callback done) ABSL_LOCKS_EXCLUDED(mu_);
  // Admits a sample of `rows` now when the limits allow it and no earlier
  // sample waits: true. False: nothing changed, the sample must wait (use
  // AwaitSample). UNAVAILABLE once closed. Lets a caller that can answer at
  // once skip setting up a wait.
  absl::StatusOr<bool> TrySample(int64_t rows) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocking forms (tests, tools): wait on the calling thread.
  absl::Status Insert(int64_t rows, absl::Time deadline);
  absl::Status Sample(int64_t rows, absl::Time deadline);

  // Removes a waiting request. True: it was still waiting and its callback will
  // never run; false: its callback has run or is running.
  bool Cancel(Ticket ticket) ABSL_LOCKS_EXCLUDED(mu_);

  // The table now holds `size` rows (called after every committed insert and at
  // recovery). Monotonic: a size below the largest reported is ignored (reports
  // from several threads may arrive out of order). Wakes samplers that may now
  // proceed.
  void SetTableSize(int64_t size) ABSL_LOCKS_EXCLUDED(mu_);
  // Restores the admitted counters (recovery from a snapshot).
  void SetCounters(uint64_t inserts, uint64_t samples) ABSL_LOCKS_EXCLUDED(mu_);

  // Fails every waiter and every later request with UNAVAILABLE. Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

  v1::RateLimiterStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiter {
    Ticket ticket;
    bool insert;
    int64_t rows;
    absl::Time deadline;
    absl::Time since;
    Callback done;
  };
  struct Ready {
    Callback done;
    absl::Status status;
    absl::Duration waited;
  };

  Ticket Await(bool insert, int64_t rows, absl::Time deadline, Callback done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Admits when no earlier request of the same kind waits and the limits allow.
  bool TryAdmitLocked(bool insert, int64_t rows) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CanInsertLocked(int64_t rows) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool CanSampleLocked(int64_t rows) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void AdmitLocked(bool insert, int64_t rows) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves admitted, expired (and, when closed, all) waiters to `ready`.
  void CollectLocked(std::vector<Ready>* ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const RateLimiterOptions options_;
  const double min_diff_;
  const double max_diff_;

  mutable absl::Mutex mu_;
  uint64_t inserts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t samples_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t table_size_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_thread_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;  // state changed since the thread last looked
  Ticket next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  std::list<Waiter> waiters_ ABSL_GUARDED_BY(mu_);  // arrival order
  std::thread thread_;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_RATE_LIMITER_H_

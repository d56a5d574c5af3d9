#include "replay_server/rate_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace sac::replay {

RateLimiter::RateLimiter(const RateLimiterOptions& options)
    : options_(options),
      min_diff_(options.samples_per_insert * static_cast<double>(options.min_size_to_sample) -
                options.error_buffer),
      max_diff_(options.samples_per_insert * static_cast<double>(options.min_size_to_sample) +
                options.error_buffer) {
  thread_ = std::thread([this] { Loop(); });
}

RateLimiter::~RateLimiter() {
  Close();
  {
    absl::MutexLock lock(&mu_);
    stop_thread_ = true;
  }
  thread_.join();
}

absl::Status RateLimiter::CheckInsert(int64_t rows, absl::string_view field) const {
  if (options_.samples_per_insert > 0 &&
      static_cast<double>(rows) * options_.samples_per_insert > options_.error_buffer) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", rows, " rows x samples_per_insert ", options_.samples_per_insert,
                     " exceed the rate limiter's error_buffer ", options_.error_buffer,
                     " (send smaller batches or widen rate_limiter.error_buffer)"));
  }
  return absl::OkStatus();
}

absl::Status RateLimiter::CheckSample(int64_t rows, absl::string_view field) const {
  if (options_.samples_per_insert > 0 && static_cast<double>(rows) > options_.error_buffer) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", rows, " exceeds the rate limiter's error_buffer ",
                     options_.error_buffer, " (sample smaller batches or widen the buffer)"));
  }
  return absl::OkStatus();
}

bool RateLimiter::CanInsertLocked(int64_t rows) const {
  if (options_.samples_per_insert <= 0) return true;
  if (inserts_ + static_cast<uint64_t>(rows) <= options_.min_size_to_sample) return true;
  const double diff =
      static_cast<double>(inserts_ + static_cast<uint64_t>(rows)) * options_.samples_per_insert -
      static_cast<double>(samples_);
  return diff <= max_diff_;
}

bool RateLimiter::CanSampleLocked(int64_t rows) const {
  if (table_size_ < std::max<int64_t>(1, static_cast<int64_t>(options_.min_size_to_sample))) {
    return false;
  }
  if (options_.samples_per_insert <= 0) return true;
  const double diff = static_cast<double>(inserts_) * options_.samples_per_insert -
                      static_cast<double>(samples_ + static_cast<uint64_t>(rows));
  return diff >= min_diff_;
}

void RateLimiter::AdmitLocked(bool insert, int64_t rows) {
  if (insert) {
    inserts_ += static_cast<uint64_t>(rows);
  } else {
    samples_ += static_cast<uint64_t>(rows);
  }
  if (!waiters_.empty()) dirty_ = true;  // the other side may now proceed
}

bool RateLimiter::TryAdmitLocked(bool insert, int64_t rows) {
  // Requests queue behind earlier waiters of the same kind (FIFO fairness).
  for (const Waiter& w : waiters_) {
    if (w.insert == insert) return false;
  }
  if (!(insert ? CanInsertLocked(rows) : CanSampleLocked(rows))) return false;
  AdmitLocked(insert, rows);
  return true;
}

absl::StatusOr<bool> RateLimiter::TrySample(int64_t rows) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("replay shard is shutting down");
  return TryAdmitLocked(/*insert=*/false, rows);
}

RateLimiter::Ticket RateLimiter::Await(bool insert, int64_t rows, absl::Time deadline,
                                       Callback done) {
  absl::Status immediate;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      immediate = absl::UnavailableError("replay shard is shutting down");
    } else if (!TryAdmitLocked(insert, rows)) {
      if (deadline <= absl::Now()) {
        immediate = absl::DeadlineExceededError(
            absl::StrCat("rate limiter: ", insert ? "insert" : "sample", " of ", rows,
                         " rows not admitted before the deadline"));
      } else {
        const Ticket t = next_ticket_++;
        waiters_.push_back(Waiter{t, insert, rows, deadline, absl::Now(), std::move(done)});
        dirty_ = true;  // the thread must watch the new deadline
        return t;
      }
    }
  }
  done(immediate, absl::ZeroDuration());
  return 0;
}

RateLimiter::Ticket RateLimiter::AwaitInsert(int64_t rows, absl::Time deadline, Callback done) {
  return Await(true, rows, deadline, std::move(done));
}

RateLimiter::Ticket RateLimiter::AwaitSample(int64_t rows, absl::Time deadline, Callback done) {
  return Await(false, rows, deadline, std::move(done));
}

absl::Status RateLimiter::Insert(int64_t rows, absl::Time deadline) {
  absl::Notification n;
  absl::Status result;
  AwaitInsert(rows, deadline, [&](absl::Status s, absl::Duration) {
    result = std::move(s);
    n.Notify();
  });
  n.WaitForNotification();
  return result;
}

absl::Status RateLimiter::Sample(int64_t rows, absl::Time deadline) {
  absl::Notification n;
  absl::Status result;
  AwaitSample(rows, deadline, [&](absl::Status s, absl::Duration) {
    result = std::move(s);
    n.Notify();
  });
  n.WaitForNotification();
  return result;
}

bool RateLimiter::Cancel(Ticket ticket) {
  if (ticket == 0) return false;
  absl::MutexLock lock(&mu_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->ticket == ticket) {
      waiters_.erase(it);
      dirty_ = true;  // a blocked head may have been removed
      return true;
    }
  }
  return false;
}

void RateLimiter::SetTableSize(int64_t size) {
  absl::MutexLock lock(&mu_);
  // Sizes only grow (FIFO, fixed capacity); callers on several threads may report
  // them out of order, and a stale smaller one must not hold samplers back.
  if (size <= table_size_) return;
  table_size_ = size;
  if (!waiters_.empty()) dirty_ = true;
}

void RateLimiter::SetCounters(uint64_t inserts, uint64_t samples) {
  absl::MutexLock lock(&mu_);
  inserts_ = inserts;
  samples_ = samples;
  dirty_ = true;
}

void RateLimiter::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  dirty_ = true;
}

void RateLimiter::CollectLocked(std::vector<Ready>* ready) {
  const absl::Time now = absl::Now();
  // Admit in arrival order per kind: a waiter is admitted only when no earlier
  // waiter of the same kind is still blocked.
  bool insert_blocked = false, sample_blocked = false;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Waiter& w = *it;
    bool& blocked = w.insert ? insert_blocked : sample_blocked;
    absl::Status status;
    bool finish = false;
    if (closed_) {
      status = absl::UnavailableError("replay shard is shutting down");
      finish = true;
    } else if (!blocked && (w.insert ? CanInsertLocked(w.rows) : CanSampleLocked(w.rows))) {
      AdmitLocked(w.insert, w.rows);
      finish = true;
    } else if (w.deadline <= now) {
      status = absl::DeadlineExceededError(
          absl::StrCat("rate limiter: ", w.insert ? "insert" : "sample", " of ", w.rows,
                       " rows not admitted before the deadline (waited ",
                       absl::FormatDuration(now - w.since), ")"));
      finish = true;
    } else {
      blocked = true;
    }
    if (finish) {
      ready->push_back(Ready{std::move(w.done), status, now - w.since});
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void RateLimiter::Loop() {
  for (;;) {
    std::vector<Ready> ready;
    {
      absl::MutexLock lock(&mu_);
      absl::Time wake = absl::InfiniteFuture();
      for (const Waiter& w : waiters_) wake = std::min(wake, w.deadline);
      auto has_work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return dirty_ || stop_thread_; };
      mu_.AwaitWithDeadline(absl::Condition(&has_work), wake);
      if (stop_thread_ && waiters_.empty()) return;
      dirty_ = false;
      CollectLocked(&ready);
    }
    for (Ready& r : ready) r.done(r.status, r.waited);
  }
}

v1::RateLimiterStatus RateLimiter::Status() const {
  absl::MutexLock lock(&mu_);
  v1::RateLimiterStatus s;
  s.set_min_size_to_sample(options_.min_size_to_sample);
  s.set_samples_per_insert(options_.samples_per_insert);
  s.set_error_buffer(options_.error_buffer);
  s.set_inserts(inserts_);
  s.set_samples(samples_);
  for (const Waiter& w : waiters_) {
    if (w.insert) {
      s.set_blocked_inserters(s.blocked_inserters() + 1);
    } else {
      s.set_blocked_samplers(s.blocked_samplers() + 1);
    }
  }
  return s;
}

}  // namespace sac::replay

// ThreadSanitizer and Debian's Abseil: libabsl_synchronization.so is not built
// with -fsanitize=thread, so TSan does not see absl::Mutex, CondVar,
// Notification or BlockingCounter synchronize anything, and would report every
// access guarded by them as a race. Linked into the test binaries of a
// SAC_SANITIZE=thread build only (sac_test), this file interposes their public
// entry points: each calls the library's own function (dlsym RTLD_NEXT) and
// tells TSan the happens-before edge it creates (__tsan_release before a
// release, __tsan_acquire after an acquire), as Abseil's own TSan annotations
// do in an instrumented build. Conditions evaluated inside the library
// (LockWhen, Await) are wrapped to acquire the mutex first. Nothing else changes:
// the library still does all locking and waiting.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

#define SAC_STR2(x) #x
#define SAC_STR(x) SAC_STR2(x)

// The library's definition of the Itanium-mangled absl member `rest`
// ("5Mutex4LockEv"), `prefix` "_ZN" or "_ZNK" (const).
void* Real(const char* prefix, const char* rest) {
  const char* ns = SAC_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      std::string(prefix) + "4absl" + std::to_string(std::strlen(ns)) + ns + rest;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in Abseil\n", name.c_str());
    std::abort();
  }
  return fn;
}

template <typename Fn>
Fn Get(const char* prefix, const char* rest) {
  return reinterpret_cast<Fn>(Real(prefix, rest));
}

void Acquire(const void* p) { __tsan_acquire(const_cast<void*>(p)); }
void Release(const void* p) { __tsan_release(const_cast<void*>(p)); }

// A condition evaluated by the library with `mu` held (by this thread or by
// one unlocking it): acquire before, release after, since the library may then
// let the mutex go without passing through Unlock. The wrapper itself lives on
// the waiting thread's stack and is read by whichever thread evaluates it; the
// library's hand-off of its waiter record is invisible to TSan, so the waiter
// publishes the wrapper (Publish) and the evaluator acquires it.
struct Wrapped {
  const absl::Condition* cond;
  const void* mu;
  Wrapped* Publish() {
    Release(this);
    return this;
  }
  static bool Eval(void* arg) {
    Acquire(arg);
    auto* w = static_cast<Wrapped*>(arg);
    Acquire(w->mu);
    const bool r = w->cond->Eval();
    Release(w->mu);
    return r;
  }
};

// The address of a Notification's notified_yet_ flag, which the inline
// HasBeenNotified() loads with acquire order (an instrumented atomic): Notify
// releases on it. Layout: Mutex mutex_; std::atomic<bool> notified_yet_.
const void* NotifiedFlag(const absl::Notification* n) {
  static_assert(sizeof(absl::Mutex) == sizeof(void*), "absl::Notification layout changed");
  return reinterpret_cast<const char*>(n) + sizeof(absl::Mutex);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Get<void (*)(Mutex*)>("_ZN", "5Mutex4LockEv");
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  static auto real = Get<void (*)(Mutex*)>("_ZN", "5Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  static auto real = Get<bool (*)(Mutex*)>("_ZN", "5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  static auto real = Get<bool (*)(Mutex*)>("_ZN", "5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
void Mutex::Unlock() {
  static auto real = Get<void (*)(Mutex*)>("_ZN", "5Mutex6UnlockEv");
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  static auto real = Get<void (*)(Mutex*)>("_ZN", "5Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real =
      Get<void (*)(Mutex*, const Condition&)>("_ZN", "5Mutex8LockWhenERKNS0_9ConditionE");
  Wrapped w{&cond, this};
  real(this, Condition(&Wrapped::Eval, w.Publish()));
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real =
      Get<void (*)(Mutex*, const Condition&)>("_ZN", "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Wrapped w{&cond, this};
  real(this, Condition(&Wrapped::Eval, w.Publish()));
  Acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Get<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN", "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Wrapped w{&cond, this};
  const bool r = real(this, Condition(&Wrapped::Eval, w.Publish()), timeout);
  Acquire(this);
  return r;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Get<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN", "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Wrapped w{&cond, this};
  const bool r = real(this, Condition(&Wrapped::Eval, w.Publish()), deadline);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Get<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN", "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Wrapped w{&cond, this};
  const bool r = real(this, Condition(&Wrapped::Eval, w.Publish()), timeout);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Get<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN", "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Wrapped w{&cond, this};
  const bool r = real(this, Condition(&Wrapped::Eval, w.Publish()), deadline);
  Acquire(this);
  return r;
}

// Await releases the mutex while it waits and holds it again when it returns.
void Mutex::Await(const Condition& cond) {
  static auto real =
      Get<void (*)(Mutex*, const Condition&)>("_ZN", "5Mutex5AwaitERKNS0_9ConditionE");
  Wrapped w{&cond, this};
  Release(this);
  real(this, Condition(&Wrapped::Eval, w.Publish()));
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Get<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN", "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Wrapped w{&cond, this};
  Release(this);
  const bool r = real(this, Condition(&Wrapped::Eval, w.Publish()), timeout);
  Acquire(this);
  return r;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Get<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN", "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Wrapped w{&cond, this};
  Release(this);
  const bool r = real(this, Condition(&Wrapped::Eval, w.Publish()), deadline);
  Acquire(this);
  return r;
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Get<void (*)(CondVar*, Mutex*)>("_ZN", "7CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Get<bool (*)(CondVar*, Mutex*, Duration)>(
      "_ZN", "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool r = real(this, mu, timeout);
  Acquire(mu);
  return r;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Get<bool (*)(CondVar*, Mutex*, Time)>(
      "_ZN", "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool r = real(this, mu, deadline);
  Acquire(mu);
  return r;
}

void Notification::Notify() {
  static auto real = Get<void (*)(Notification*)>("_ZN", "12Notification6NotifyEv");
  Release(NotifiedFlag(this));
  real(this);
}
void Notification::WaitForNotification() const {
  static auto real =
      Get<void (*)(const Notification*)>("_ZNK", "12Notification19WaitForNotificationEv");
  real(this);
  Acquire(NotifiedFlag(this));
}
bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto real = Get<bool (*)(const Notification*, Duration)>(
      "_ZNK", "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool r = real(this, timeout);
  if (r) Acquire(NotifiedFlag(this));
  return r;
}
bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto real = Get<bool (*)(const Notification*, Time)>(
      "_ZNK", "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool r = real(this, deadline);
  if (r) Acquire(NotifiedFlag(this));
  return r;
}

bool BlockingCounter::DecrementCount() {
  static auto real = Get<bool (*)(BlockingCounter*)>("_ZN", "15BlockingCounter14DecrementCountEv");
  Release(this);
  return real(this);
}
void BlockingCounter::Wait() {
  static auto real = Get<void (*)(BlockingCounter*)>("_ZN", "15BlockingCounter4WaitEv");
  real(this);
  Acquire(this);
}

ABSL_NAMESPACE_END
}  // namespace absl

#include "replay_server/table.h"

#include <sys/mman.h>

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/tensor_codec.h"

namespace sac::replay {
namespace {

int64_t AlignUp(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

// Maps `bytes` of zeroed, page-aligned memory for the rows, asking for
// transparent huge pages (fewer TLB misses when sampling random rows; a hint
// only), and touches every page once so the memory is really there when the
// shard starts (no page faults on the insert path later, and an overcommitted
// machine fails here rather than mid-run). nullptr when the mapping fails.
uint8_t* MapRows(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  madvise(p, bytes, MADV_HUGEPAGE);
  auto* rows = static_cast<uint8_t*>(p);
  for (size_t at = 0; at < bytes; at += 4096) rows[at] = 0;
  return rows;
}

// Copies field `width` x T of each of `n` rows between a column (row i at
// column + i * width) and the row records (row i at rows + i * stride + offset).
template <typename T>
void ColumnToRows(const T* column, int64_t width, int64_t n, uint8_t* rows, int64_t stride,
                  int64_t offset) {
  const size_t bytes = static_cast<size_t>(width) * sizeof(T);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(rows + i * stride + offset, column + i * width, bytes);
  }
}
template <typename T>
void RowsToColumn(const uint8_t* rows, int64_t stride, int64_t offset, int64_t width, int64_t n,
                  T* column) {
  const size_t bytes = static_cast<size_t>(width) * sizeof(T);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(column + i * width, rows + i * stride + offset, bytes);
  }
}

// Copies a row record (whole 64-byte lines, 64-byte aligned destination) to
// the table with non-temporal stores where the CPU has them; StreamFence()
// orders those stores before what follows (the lock's release).
struct alignas(16) Line {
  uint8_t bytes[16];
};
#if defined(__SSE2__)
void StreamRecord(const Line* record, size_t lines, uint8_t* dst) {
  auto* out = reinterpret_cast<__m128i*>(dst);
  for (size_t k = 0; k < lines; ++k) {
    _mm_stream_si128(out + k, _mm_load_si128(reinterpret_cast<const __m128i*>(record + k)));
  }
}
void StreamFence() { _mm_sfence(); }
#else
void StreamRecord(const Line* record, size_t lines, uint8_t* dst) {
  std::memcpy(dst, record, lines * sizeof(Line));
}
void StreamFence() {}
#endif

// Copies one row's field of `n` bytes (a few to a few hundred) inline: the
// field sizes are known only at run time, so std::memcpy here was a call into
// libc per field, three per row, which took two thirds of an insert's time in
// the table (perf, 2026-11-25). 16-byte moves, the last one ending exactly at
// the field's end (overlapping the one before), so nothing outside the field
// is read or written.
inline void CopyField(uint8_t* dst, const uint8_t* src, size_t n) {
#if defined(__SSE2__)
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    }
    if (i < n) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + n - 16),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + n - 16)));
    }
    return;
  }
#endif
  if (n >= 8) {
    uint64_t head, tail;
    std::memcpy(&head, src, 8);
    std::memcpy(&tail, src + n - 8, 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, src, 4);
    std::memcpy(&tail, src + n - 4, 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}
template <typename T>
inline void CopyField(T* dst, const void* src, size_t n) {
  CopyField(reinterpret_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), n);
}
template <typename T>
inline void CopyField(uint8_t* dst, const T* src, size_t n) {
  CopyField(dst, reinterpret_cast<const uint8_t*>(src), n);
}

// Asks for the cache line holding `p` into the L2 cache: an asm volatile,
// because GCC 12 at -O2 deletes a loop of bare __builtin_prefetch calls, and
// L2 rather than L1, which tracks too few misses for a gather that asks dozens
// of lines ahead (figures: docs/perf.md, "Measurements moved from code comments").
inline void PrefetchLine(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  asm volatile("prfm pldl2keep, %0" : : "Q"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

// Resizes `s` to `n` elements of T and returns a pointer to its bytes.
template <typename T>
T* ResizeBytes(std::string* s, int64_t n) {
  s->resize(static_cast<size_t>(n) * sizeof(T));
  return reinterpret_cast<T*>(s->data());
}

}  // namespace

RowLayout::RowLayout(const TableSpec& spec) {
  const int64_t f = static_cast<int64_t>(sizeof(float));
  obs = 0;
  action = obs + f * spec.obs_dim;
  reward = action + f * spec.act_dim;
  next_obs = reward + f;
  policy_version = AlignUp(next_obs + f * spec.obs_dim, 8);
  key = policy_version + 8;
  actor_id = key + 8;
  terminated = actor_id + 4;
  truncated = terminated + 1;
  stride = AlignUp(truncated + 1, 64);
}

absl::StatusOr<std::unique_ptr<ReplayTable>> ReplayTable::Create(const TableOptions& options) {
  if (options.capacity < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity: ", options.capacity, ", must be >= 1"));
  }
  if (options.spec.obs_dim < 1 || options.spec.act_dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("obs_dim/act_dim: ", options.spec.obs_dim, "/",
                                                   options.spec.act_dim, ", both must be >= 1"));
  }
  std::unique_ptr<Selector> selector;
  if (options.selector == "uniform") {
    selector = MakeUniformSelector();
  } else if (options.selector == "prioritized") {
    selector = std::make_unique<PrioritizedSelector>(options.capacity, options.priority_exponent);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("selector: '", options.selector, "', expected uniform or prioritized"));
  }
  const size_t bytes = static_cast<size_t>(StorageBytes(options.spec, options.capacity));
  uint8_t* rows = MapRows(bytes);
  if (rows == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("capacity: ", options.capacity, " rows need ",
                                                     bytes, " bytes, which could not be mapped"));
  }
  return std::unique_ptr<ReplayTable>(new ReplayTable(options, std::move(selector), rows, bytes));
}

ReplayTable::ReplayTable(const TableOptions& options, std::unique_ptr<Selector> selector,
                         uint8_t* rows, size_t mapped_bytes)
    : spec_(options.spec),
      layout_(options.spec),
      capacity_(options.capacity),
      prioritized_(options.selector == "prioritized"),
      selector_name_(selector->name()),
      selector_(std::move(selector)),
      rows_(rows),
      mapped_bytes_(mapped_bytes) {}

ReplayTable::~ReplayTable() { munmap(rows_, mapped_bytes_); }

void ReplayTable::WriteRowsLocked(uint64_t first_key, const RowsRef& r, int64_t from) {
  // Only the last `capacity_` rows of a batch can survive; skip the others.
  uint64_t position = done_.load(std::memory_order_relaxed);
  if (r.rows - from > capacity_) {
    const int64_t skip = r.rows - from - capacity_;
    from += skip;
    first_key += static_cast<uint64_t>(skip);
    position += static_cast<uint64_t>(skip);
  }
  const uint64_t end = position + static_cast<uint64_t>(r.rows - from);
  // Samplers copy rows without the lock and throw away a row whose position
  // an overwrite has begun on (Sample): announce the overwrite before any of
  // its stores. An acquire read-modify-write keeps the stores below from
  // moving above it (no fence: GCC's ThreadSanitizer refuses fences), and
  // StreamFence keeps the CPU's streaming stores, which may pass earlier
  // stores, behind it.
  begun_.exchange(end, std::memory_order_acq_rel);
  StreamFence();
  // Each row is assembled in a small buffer that stays in L1, then streamed
  // to its record with non-temporal stores: a record is whole cache lines, so
  // the stores need not read the old row in from memory first (the table is
  // far larger than the caches, so the slot being overwritten is cold), and
  // they leave the caches to the request buffers.
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim, stride = layout_.stride;
  const RowLayout& l = layout_;
  thread_local std::vector<Line> record;
  record.resize(static_cast<size_t>(stride) / sizeof(Line));
  Line* const record_lines = record.data();
  const size_t lines = record.size();
  uint8_t* rec = reinterpret_cast<uint8_t*>(record_lines);
  const size_t obs_bytes = static_cast<size_t>(od) * sizeof(float);
  const size_t act_bytes = static_cast<size_t>(ad) * sizeof(float);
  int64_t head = HeadOf(position);
  int64_t i = from;
  while (i < r.rows) {
    const int64_t n = std::min(r.rows - i, capacity_ - head);
    const int64_t slot = head;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t row = i + j;
      const uint64_t key = first_key + static_cast<uint64_t>(row - from);
      CopyField(rec + l.obs, r.obs + row * od, obs_bytes);
      CopyField(rec + l.action, r.action + row * ad, act_bytes);
      std::memcpy(rec + l.reward, r.reward + row, sizeof(float));
      CopyField(rec + l.next_obs, r.next_obs + row * od, obs_bytes);
      std::memcpy(rec + l.policy_version, r.policy_version + row, sizeof(uint64_t));
      std::memcpy(rec + l.key, &key, sizeof(key));
      std::memcpy(rec + l.actor_id, r.actor_id + row, sizeof(uint32_t));
      rec[l.terminated] = r.terminated[row];
      rec[l.truncated] = r.truncated[row];
      StreamRecord(record_lines, lines, RowLocked(slot + j));
      selector_->Insert(slot + j);
    }
    head = (head + n) % capacity_;
    i += n;
  }
  StreamFence();
  next_key_ = first_key + static_cast<uint64_t>(r.rows - from);
  done_.store(end, std::memory_order_release);
}

uint64_t ReplayTable::Insert(const RowsRef& rows) {
  absl::MutexLock lock(&mu_);
  const uint64_t first = next_key_;
  WriteRowsLocked(first, rows, 0);
  inserts_total_.fetch_add(static_cast<uint64_t>(rows.rows), std::memory_order_relaxed);
  return first;
}

void ReplayTable::InsertWithKey(uint64_t first_key, const RowsRef& rows) {
  absl::MutexLock lock(&mu_);
  int64_t from = 0;
  if (first_key < next_key_) {
    const uint64_t held = next_key_ - first_key;
    if (held >= static_cast<uint64_t>(rows.rows)) return;
    from = static_cast<int64_t>(held);
    first_key = next_key_;
  }
  WriteRowsLocked(first_key, rows, from);
  inserts_total_.fetch_add(static_cast<uint64_t>(rows.rows - from), std::memory_order_relaxed);
}

absl::Status ReplayTable::Sample(int64_t batch_size, absl::BitGenRef gen, v1::SampleResponse* out) {
  const int64_t b = batch_size;
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim;
  v1::TransitionBatch* batch = out->mutable_batch();
  SampleColumns c;
  c.obs = ResizeBytes<float>(batch->mutable_obs()->mutable_data(), b * od);
  c.action = ResizeBytes<float>(batch->mutable_action()->mutable_data(), b * ad);
  c.reward = ResizeBytes<float>(batch->mutable_reward()->mutable_data(), b);
  c.next_obs = ResizeBytes<float>(batch->mutable_next_obs()->mutable_data(), b * od);
  c.probability = ResizeBytes<float>(out->mutable_probability()->mutable_data(), b);
  c.terminated = ResizeBytes<uint8_t>(batch->mutable_terminated(), b);
  c.truncated = ResizeBytes<uint8_t>(batch->mutable_truncated(), b);
  batch->mutable_policy_version()->Resize(static_cast<int>(b), 0);
  batch->mutable_actor_id()->Resize(static_cast<int>(b), 0);
  out->mutable_key()->Resize(static_cast<int>(b), 0);
  c.policy_version = batch->mutable_policy_version()->mutable_data();
  c.actor_id = batch->mutable_actor_id()->mutable_data();
  c.key = out->mutable_key()->mutable_data();
  ASSIGN_OR_RETURN(const int64_t size, SampleInto(b, gen, c));
  auto set_shape = [](v1::Tensor* t, std::initializer_list<int64_t> shape) {
    t->mutable_shape()->Assign(shape.begin(), shape.end());
  };
  set_shape(batch->mutable_obs(), {b, od});
  set_shape(batch->mutable_action(), {b, ad});
  set_shape(batch->mutable_reward(), {b});
  set_shape(batch->mutable_next_obs(), {b, od});
  set_shape(out->mutable_probability(), {b});
  out->set_table_size(static_cast<uint64_t>(size));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReplayTable::SampleInto(int64_t batch_size, absl::BitGenRef gen,
                                                const SampleColumns& c) {
  const int64_t b = batch_size;
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim;
  const int64_t stride = layout_.stride;
  const RowLayout& l = layout_;

  // The rows still to copy (indices into the batch) and each one's draw.
  thread_local std::vector<Pick> picks;
  thread_local std::vector<int64_t> todo;
  picks.resize(static_cast<size_t>(b));
  todo.resize(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) todo[i] = i;
  // Copies the rows of `todo` out of the table, prefetching each row's record
  // 32 rows ahead so many rows' cache misses are in flight at once.
  // Without the lock a copy may race with a writer's streaming stores into the
  // same record: the copy then holds some mix of old and new bytes, and the
  // position check after it throws that row away. (The C++ memory model calls
  // such a race undefined; what is relied on is the hardware's: a load returns
  // some value that was or is being stored. Copying through relaxed atomic
  // loads instead is slower: docs/perf.md.)
  auto gather = [&]() {
    constexpr size_t kAhead = 32;
    auto prefetch = [&](size_t k) {
      const uint8_t* row = RowLocked(picks[todo[k]].slot);
      for (int64_t line = 0; line < stride; line += 64) PrefetchLine(row + line);
    };
    const size_t n = todo.size();
    for (size_t k = 0; k < std::min(kAhead, n); ++k) prefetch(k);
    for (size_t k = 0; k < n; ++k) {
      if (k + kAhead < n) prefetch(k + kAhead);
      const int64_t i = todo[k];
      const uint8_t* rec = RowLocked(picks[i].slot);
      CopyField(c.obs + i * od, rec + l.obs, static_cast<size_t>(od) * sizeof(float));
      CopyField(c.action + i * ad, rec + l.action, static_cast<size_t>(ad) * sizeof(float));
      std::memcpy(c.reward + i, rec + l.reward, sizeof(float));
      CopyField(c.next_obs + i * od, rec + l.next_obs, static_cast<size_t>(od) * sizeof(float));
      c.terminated[i] = rec[l.terminated];
      c.truncated[i] = rec[l.truncated];
      std::memcpy(c.policy_version + i, rec + l.policy_version, sizeof(uint64_t));
      std::memcpy(c.actor_id + i, rec + l.actor_id, sizeof(uint32_t));
      std::memcpy(c.key + i, rec + l.key, sizeof(uint64_t));
      c.probability[i] = static_cast<float>(picks[i].probability);
    }
  };
  // Rounds without the lock first: a writer only overwrites the oldest rows,
  // so a row copied while it was being overwritten is one whose position has
  // fallen out of the window by the time its copy ends; those rows (rare: the
  // oldest few of the table) are drawn again from the newer window. Rows left
  // after kOptimisticRounds are drawn and copied under the reader lock, which
  // writers wait for, so a sample always ends.
  constexpr int kOptimisticRounds = 4;
  int64_t size = 0;
  for (int round = 0; round < kOptimisticRounds && !todo.empty(); ++round) {
    int64_t drawn = 0;
    if (prioritized_) {
      // The sum tree changes under the writer lock: draw under the reader lock.
      absl::ReaderMutexLock lock(&mu_);
      drawn = DrawInto(done_.load(std::memory_order_relaxed), todo, gen, picks.data());
    } else {
      drawn = DrawInto(done_.load(std::memory_order_acquire), todo, gen, picks.data());
    }
    if (drawn == 0) return absl::FailedPreconditionError("table: empty, nothing to sample");
    if (size == 0) size = drawn;
    gather();
    // A release read-modify-write keeps the copies above from moving below
    // it: a copy that saw any byte of an overwrite reads a `begun_` that covers
    // that overwrite's position.
    const uint64_t begun = begun_.fetch_add(0, std::memory_order_acq_rel);
    size_t kept = 0;
    for (int64_t i : todo) {
      if (picks[i].position + static_cast<uint64_t>(capacity_) < begun) todo[kept++] = i;
    }
    todo.resize(kept);
    if (kept > 0) redrawn_.fetch_add(kept, std::memory_order_relaxed);
  }
  if (!todo.empty()) {
    absl::ReaderMutexLock lock(&mu_);
    (void)DrawInto(done_.load(std::memory_order_relaxed), todo, gen, picks.data());
    gather();
  }
  samples_total_.fetch_add(static_cast<uint64_t>(b), std::memory_order_relaxed);
  return size;
}

int64_t ReplayTable::DrawInto(uint64_t done, std::span<const int64_t> todo, absl::BitGenRef gen,
                              Pick* picks) const {
  const int64_t size = static_cast<int64_t>(std::min<uint64_t>(capacity_, done));
  if (size == 0) return 0;
  // Held: positions [done - size, done); position p lies in slot p % capacity.
  const int64_t newest_slot = HeadOf(done - 1);
  for (int64_t i : todo) {
    const Selection s = selector_->Sample(size, gen);
    int64_t back = newest_slot - s.slot;
    if (back < 0) back += capacity_;
    picks[i] = {done - 1 - static_cast<uint64_t>(back), s.slot, s.probability};
  }
  return size;
}

int64_t ReplayTable::SlotOfLocked(uint64_t key) const {
  const int64_t size = this->size();
  if (key >= next_key_ || next_key_ - key > static_cast<uint64_t>(size)) return -1;
  const int64_t back = static_cast<int64_t>(next_key_ - key);
  const int64_t head = HeadOf(done_.load(std::memory_order_relaxed));
  const int64_t slot = ((head - back) % capacity_ + capacity_) % capacity_;
  uint64_t held;
  std::memcpy(&held, RowLocked(slot) + layout_.key, sizeof(held));
  return held == key ? slot : -1;
}

absl::StatusOr<int64_t> ReplayTable::UpdatePriorities(std::span<const uint64_t> keys,
                                                      std::span<const float> priorities) {
  if (!prioritized_) {
    return absl::FailedPreconditionError(
        "selector: this table is uniform; UpdatePriorities needs selector=prioritized");
  }
  absl::MutexLock lock(&mu_);
  int64_t updated = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const int64_t slot = SlotOfLocked(keys[i]);
    if (slot < 0) continue;
    selector_->Update(slot, priorities[i]);
    ++updated;
  }
  return updated;
}

TableContents ReplayTable::Copy() const {
  TableContents c;
  CopyInto(&c);
  return c;
}

void ReplayTable::CopyInto(TableContents* out) const {
  absl::ReaderMutexLock lock(&mu_);
  TableContents& c = *out;
  c.spec = spec_;
  c.capacity = capacity_;
  c.size = size();
  c.head = HeadOf(done_.load(std::memory_order_relaxed));
  c.next_key = next_key_;
  c.inserts_total = inserts_total_.load();
  c.samples_total = samples_total_.load();
  const int64_t n = c.size, od = spec_.obs_dim, ad = spec_.act_dim, stride = layout_.stride;
  const size_t un = static_cast<size_t>(n);
  c.obs.resize(un * od);
  c.action.resize(un * ad);
  c.reward.resize(un);
  c.next_obs.resize(un * od);
  c.terminated.resize(un);
  c.truncated.resize(un);
  c.policy_version.resize(un);
  c.actor_id.resize(un);
  c.key.resize(un);
  RowsToColumn(rows_, stride, layout_.obs, od, n, c.obs.data());
  RowsToColumn(rows_, stride, layout_.action, ad, n, c.action.data());
  RowsToColumn(rows_, stride, layout_.reward, 1, n, c.reward.data());
  RowsToColumn(rows_, stride, layout_.next_obs, od, n, c.next_obs.data());
  RowsToColumn(rows_, stride, layout_.terminated, 1, n, c.terminated.data());
  RowsToColumn(rows_, stride, layout_.truncated, 1, n, c.truncated.data());
  RowsToColumn(rows_, stride, layout_.policy_version, 1, n, c.policy_version.data());
  RowsToColumn(rows_, stride, layout_.actor_id, 1, n, c.actor_id.data());
  RowsToColumn(rows_, stride, layout_.key, 1, n, c.key.data());
}

absl::Status ReplayTable::Restore(const TableContents& c) {
  if (c.spec.obs_dim != spec_.obs_dim || c.spec.act_dim != spec_.act_dim) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot: spec obs_dim/act_dim ", c.spec.obs_dim, "/", c.spec.act_dim,
                     " differs from the table's ", spec_.obs_dim, "/", spec_.act_dim));
  }
  if (c.size > capacity_ || c.size < 0 || c.head < 0 || c.head >= std::max<int64_t>(capacity_, 1) ||
      (c.size < capacity_ && c.head != c.size % capacity_)) {
    // A snapshot of a bigger table only fits when it is not full; otherwise the
    // FIFO order cannot be kept.
    return absl::FailedPreconditionError(absl::StrCat("snapshot: ", c.size, " rows (head ", c.head,
                                                      ") do not fit capacity ", capacity_));
  }
  const size_t n = static_cast<size_t>(c.size);
  if (c.obs.size() != n * spec_.obs_dim || c.action.size() != n * spec_.act_dim ||
      c.reward.size() != n || c.next_obs.size() != n * spec_.obs_dim || c.terminated.size() != n ||
      c.truncated.size() != n || c.policy_version.size() != n || c.actor_id.size() != n ||
      c.key.size() != n) {
    return absl::DataLossError("snapshot: column sizes do not match the row count");
  }
  absl::MutexLock lock(&mu_);
  if (done_.load(std::memory_order_relaxed) != 0) {
    return absl::FailedPreconditionError(
        "table: restore needs a table nothing was inserted into (restore happens at start)");
  }
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim, stride = layout_.stride;
  ColumnToRows(c.obs.data(), od, c.size, rows_, stride, layout_.obs);
  ColumnToRows(c.action.data(), ad, c.size, rows_, stride, layout_.action);
  ColumnToRows(c.reward.data(), 1, c.size, rows_, stride, layout_.reward);
  ColumnToRows(c.next_obs.data(), od, c.size, rows_, stride, layout_.next_obs);
  ColumnToRows(c.terminated.data(), 1, c.size, rows_, stride, layout_.terminated);
  ColumnToRows(c.truncated.data(), 1, c.size, rows_, stride, layout_.truncated);
  ColumnToRows(c.policy_version.data(), 1, c.size, rows_, stride, layout_.policy_version);
  ColumnToRows(c.actor_id.data(), 1, c.size, rows_, stride, layout_.actor_id);
  ColumnToRows(c.key.data(), 1, c.size, rows_, stride, layout_.key);
  for (int64_t s = 0; s < c.size; ++s) selector_->Insert(s);
  next_key_ = c.next_key;
  // Positions such that the held rows are [done - size, done) and position p
  // lies in slot p % capacity: the newest row is in the slot before head.
  const uint64_t done = static_cast<uint64_t>(c.size == capacity_ ? c.head + capacity_ : c.size);
  begun_.store(done, std::memory_order_relaxed);
  done_.store(done, std::memory_order_release);
  inserts_total_.store(c.inserts_total);
  samples_total_.store(c.samples_total);
  return absl::OkStatus();
}

absl::Status ReplayTable::ReadRow(uint64_t key, v1::TransitionBatch* out) const {
  absl::ReaderMutexLock lock(&mu_);
  const int64_t s = SlotOfLocked(key);
  if (s < 0) return absl::NotFoundError(absl::StrCat("key ", key, " is not held"));
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim;
  const uint8_t* row = RowLocked(s);
  std::vector<float> obs(od), action(ad), next_obs(od);
  float reward;
  uint64_t version;
  uint32_t actor;
  std::memcpy(obs.data(), row + layout_.obs, obs.size() * sizeof(float));
  std::memcpy(action.data(), row + layout_.action, action.size() * sizeof(float));
  std::memcpy(&reward, row + layout_.reward, sizeof(reward));
  std::memcpy(next_obs.data(), row + layout_.next_obs, next_obs.size() * sizeof(float));
  std::memcpy(&version, row + layout_.policy_version, sizeof(version));
  std::memcpy(&actor, row + layout_.actor_id, sizeof(actor));
  out->Clear();
  const int64_t os[] = {1, od}, as[] = {1, ad}, rs[] = {1};
  EncodeTensor(obs, os, out->mutable_obs());
  EncodeTensor(action, as, out->mutable_action());
  EncodeTensor({&reward, 1}, rs, out->mutable_reward());
  EncodeTensor(next_obs, os, out->mutable_next_obs());
  out->set_terminated(std::string(1, static_cast<char>(row[layout_.terminated])));
  out->set_truncated(std::string(1, static_cast<char>(row[layout_.truncated])));
  out->add_policy_version(version);
  out->add_actor_id(actor);
  return absl::OkStatus();
}

uint64_t ReplayTable::next_key() const {
  absl::ReaderMutexLock lock(&mu_);
  return next_key_;
}

}  // namespace sac::replay

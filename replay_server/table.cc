#include "replay_server/table.h"

#include <algorithm>
#include <sys/mman.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace sac::replay {
namespace {

// Asks for transparent huge pages over a large column (fewer TLB misses when
// sampling random rows); a hint only.
// Allocates `n` elements (zeroed) with the hint given before the pages are touched.
template <typename T>
void AllocateColumn(std::vector<T>* v, size_t n) {
  v->reserve(n);
  const size_t page = 2 << 20;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(v->data());
  const uintptr_t end = begin + n * sizeof(T);
  const uintptr_t first = (begin + page - 1) & ~(page - 1);
  if (end > first + page) {
    madvise(reinterpret_cast<void*>(first), (end - first) & ~(page - 1), MADV_HUGEPAGE);
  }
  v->resize(n);
}

template <typename T>
void CopyRows(const T* src, int64_t width, int64_t from_row, int64_t n, std::vector<T>* dst,
              int64_t slot) {
  std::memcpy(dst->data() + slot * width, src + from_row * width,
              static_cast<size_t>(n * width) * sizeof(T));
}

// Resizes `s` to `n` elements of T and returns a pointer to its bytes.
template <typename T>
T* ResizeBytes(std::string* s, int64_t n) {
  s->resize(static_cast<size_t>(n) * sizeof(T));
  return reinterpret_cast<T*>(s->data());
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplayTable>> ReplayTable::Create(const TableOptions& options) {
  if (options.capacity < 1) {
    return absl::InvalidArgumentError(absl::StrCat("capacity: ", options.capacity, ", must be >= 1"));
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
  return std::unique_ptr<ReplayTable>(new ReplayTable(options, std::move(selector)));
}

ReplayTable::ReplayTable(const TableOptions& options, std::unique_ptr<Selector> selector)
    : spec_(options.spec),
      capacity_(options.capacity),
      prioritized_(options.selector == "prioritized"),
      selector_(std::move(selector)) {
  const size_t c = static_cast<size_t>(capacity_);
  AllocateColumn(&obs_, c * spec_.obs_dim);
  AllocateColumn(&action_, c * spec_.act_dim);
  AllocateColumn(&reward_, c);
  AllocateColumn(&next_obs_, c * spec_.obs_dim);
  AllocateColumn(&terminated_, c);
  AllocateColumn(&truncated_, c);
  AllocateColumn(&policy_version_, c);
  AllocateColumn(&actor_id_, c);
  AllocateColumn(&key_, c);
}

void ReplayTable::WriteRowsLocked(uint64_t first_key, const RowsRef& r, int64_t from) {
  // Only the last `capacity_` rows of a batch can survive; skip the others.
  if (r.rows - from > capacity_) {
    const int64_t skip = r.rows - from - capacity_;
    from += skip;
    first_key += static_cast<uint64_t>(skip);
    head_ = (head_ + skip) % capacity_;
  }
  int64_t i = from;
  while (i < r.rows) {
    const int64_t n = std::min(r.rows - i, capacity_ - head_);
    const int64_t slot = head_;
    CopyRows(r.obs, spec_.obs_dim, i, n, &obs_, slot);
    CopyRows(r.action, spec_.act_dim, i, n, &action_, slot);
    CopyRows(r.reward, 1, i, n, &reward_, slot);
    CopyRows(r.next_obs, spec_.obs_dim, i, n, &next_obs_, slot);
    CopyRows(r.terminated, 1, i, n, &terminated_, slot);
    CopyRows(r.truncated, 1, i, n, &truncated_, slot);
    CopyRows(r.policy_version, 1, i, n, &policy_version_, slot);
    CopyRows(r.actor_id, 1, i, n, &actor_id_, slot);
    for (int64_t j = 0; j < n; ++j) {
      key_[slot + j] = first_key + static_cast<uint64_t>(i - from + j);
      selector_->Insert(slot + j);
    }
    head_ = (head_ + n) % capacity_;
    i += n;
  }
  next_key_ = first_key + static_cast<uint64_t>(r.rows - from);
  const int64_t new_size = std::min(capacity_, size_.load(std::memory_order_relaxed) + (r.rows - from));
  size_.store(new_size, std::memory_order_release);
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

absl::Status ReplayTable::Sample(int64_t batch_size, absl::BitGenRef gen,
                                 v1::SampleResponse* out) {
  absl::ReaderMutexLock lock(&mu_);
  const int64_t size = size_.load(std::memory_order_relaxed);
  if (size == 0) return absl::FailedPreconditionError("table: empty, nothing to sample");
  const int64_t b = batch_size;
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim;
  v1::TransitionBatch* batch = out->mutable_batch();
  float* obs = ResizeBytes<float>(batch->mutable_obs()->mutable_data(), b * od);
  float* action = ResizeBytes<float>(batch->mutable_action()->mutable_data(), b * ad);
  float* reward = ResizeBytes<float>(batch->mutable_reward()->mutable_data(), b);
  float* next_obs = ResizeBytes<float>(batch->mutable_next_obs()->mutable_data(), b * od);
  float* prob = ResizeBytes<float>(out->mutable_probability()->mutable_data(), b);
  std::string* term = batch->mutable_terminated();
  std::string* trunc = batch->mutable_truncated();
  term->resize(static_cast<size_t>(b));
  trunc->resize(static_cast<size_t>(b));
  auto* pv = batch->mutable_policy_version();
  auto* actor = batch->mutable_actor_id();
  auto* keys = out->mutable_key();
  pv->Resize(static_cast<int>(b), 0);
  actor->Resize(static_cast<int>(b), 0);
  keys->Resize(static_cast<int>(b), 0);
  // Draw every slot first, then gather column by column with prefetching: a
  // random row of a large table misses the cache in every column, and doing the
  // misses of many rows at once hides most of their latency.
  thread_local std::vector<Selection> picks;
  picks.resize(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) picks[i] = selector_->Sample(size, gen);
  constexpr int64_t kAhead = 8;
  auto gather = [&](auto* dst, const auto& column, int64_t width) {
    for (int64_t i = 0; i < b; ++i) {
      if (i + kAhead < b) __builtin_prefetch(column.data() + picks[i + kAhead].slot * width);
      std::memcpy(dst + i * width, column.data() + picks[i].slot * width,
                  static_cast<size_t>(width) * sizeof(*dst));
    }
  };
  gather(obs, obs_, od);
  gather(action, action_, ad);
  gather(reward, reward_, 1);
  gather(next_obs, next_obs_, od);
  gather(reinterpret_cast<uint8_t*>(term->data()), terminated_, 1);
  gather(reinterpret_cast<uint8_t*>(trunc->data()), truncated_, 1);
  gather(pv->mutable_data(), policy_version_, 1);
  gather(actor->mutable_data(), actor_id_, 1);
  gather(keys->mutable_data(), key_, 1);
  for (int64_t i = 0; i < b; ++i) prob[i] = static_cast<float>(picks[i].probability);
  auto set_shape = [](v1::Tensor* t, std::initializer_list<int64_t> shape) {
    t->mutable_shape()->Assign(shape.begin(), shape.end());
  };
  set_shape(batch->mutable_obs(), {b, od});
  set_shape(batch->mutable_action(), {b, ad});
  set_shape(batch->mutable_reward(), {b});
  set_shape(batch->mutable_next_obs(), {b, od});
  set_shape(out->mutable_probability(), {b});
  out->set_table_size(static_cast<uint64_t>(size));
  samples_total_.fetch_add(static_cast<uint64_t>(b), std::memory_order_relaxed);
  return absl::OkStatus();
}

int64_t ReplayTable::SlotOfLocked(uint64_t key) const {
  const int64_t size = size_.load(std::memory_order_relaxed);
  if (key >= next_key_ || next_key_ - key > static_cast<uint64_t>(size)) return -1;
  const int64_t back = static_cast<int64_t>(next_key_ - key);
  const int64_t slot = ((head_ - back) % capacity_ + capacity_) % capacity_;
  return key_[slot] == key ? slot : -1;
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
  c.size = size_.load(std::memory_order_relaxed);
  c.head = head_;
  c.next_key = next_key_;
  c.inserts_total = inserts_total_.load();
  c.samples_total = samples_total_.load();
  const size_t n = static_cast<size_t>(c.size);
  c.obs.assign(obs_.begin(), obs_.begin() + n * spec_.obs_dim);
  c.action.assign(action_.begin(), action_.begin() + n * spec_.act_dim);
  c.reward.assign(reward_.begin(), reward_.begin() + n);
  c.next_obs.assign(next_obs_.begin(), next_obs_.begin() + n * spec_.obs_dim);
  c.terminated.assign(terminated_.begin(), terminated_.begin() + n);
  c.truncated.assign(truncated_.begin(), truncated_.begin() + n);
  c.policy_version.assign(policy_version_.begin(), policy_version_.begin() + n);
  c.actor_id.assign(actor_id_.begin(), actor_id_.begin() + n);
  c.key.assign(key_.begin(), key_.begin() + n);
}

absl::Status ReplayTable::Restore(const TableContents& c) {
  if (c.spec.obs_dim != spec_.obs_dim || c.spec.act_dim != spec_.act_dim) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot: spec obs_dim/act_dim ", c.spec.obs_dim, "/", c.spec.act_dim,
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
  std::copy(c.obs.begin(), c.obs.end(), obs_.begin());
  std::copy(c.action.begin(), c.action.end(), action_.begin());
  std::copy(c.reward.begin(), c.reward.end(), reward_.begin());
  std::copy(c.next_obs.begin(), c.next_obs.end(), next_obs_.begin());
  std::copy(c.terminated.begin(), c.terminated.end(), terminated_.begin());
  std::copy(c.truncated.begin(), c.truncated.end(), truncated_.begin());
  std::copy(c.policy_version.begin(), c.policy_version.end(), policy_version_.begin());
  std::copy(c.actor_id.begin(), c.actor_id.end(), actor_id_.begin());
  std::copy(c.key.begin(), c.key.end(), key_.begin());
  for (int64_t s = 0; s < c.size; ++s) selector_->Insert(s);
  head_ = c.head;
  next_key_ = c.next_key;
  size_.store(c.size, std::memory_order_release);
  inserts_total_.store(c.inserts_total);
  samples_total_.store(c.samples_total);
  return absl::OkStatus();
}

absl::Status ReplayTable::ReadRow(uint64_t key, v1::TransitionBatch* out) const {
  absl::ReaderMutexLock lock(&mu_);
  const int64_t s = SlotOfLocked(key);
  if (s < 0) return absl::NotFoundError(absl::StrCat("key ", key, " is not held"));
  const int64_t od = spec_.obs_dim, ad = spec_.act_dim;
  out->Clear();
  const int64_t os[] = {1, od}, as[] = {1, ad}, rs[] = {1};
  EncodeTensor({obs_.data() + s * od, static_cast<size_t>(od)}, os, out->mutable_obs());
  EncodeTensor({action_.data() + s * ad, static_cast<size_t>(ad)}, as, out->mutable_action());
  EncodeTensor({reward_.data() + s, 1}, rs, out->mutable_reward());
  EncodeTensor({next_obs_.data() + s * od, static_cast<size_t>(od)}, os, out->mutable_next_obs());
  out->set_terminated(std::string(1, static_cast<char>(terminated_[s])));
  out->set_truncated(std::string(1, static_cast<char>(truncated_[s])));
  out->add_policy_version(policy_version_[s]);
  out->add_actor_id(actor_id_[s]);
  return absl::OkStatus();
}

uint64_t ReplayTable::next_key() const {
  absl::ReaderMutexLock lock(&mu_);
  return next_key_;
}

}  // namespace sac::replay

// ReplayTable: the rows of one shard. Fixed capacity, FIFO eviction (the oldest
// row is overwritten first), rows in one preallocated contiguous block (no
// allocation per row), a key per row (consecutive, starting at 0), and a
// selector that draws samples. Called by ReplayShard (inserts, samples,
// snapshots) and by recovery.
//
// Storage is row-major: every field of a row (obs, action, reward, next_obs,
// policy version, key, actor id, flags) lies in one record of
// `RowLayout::stride` bytes, aligned to 64 bytes, so a uniformly drawn row costs
// as few cache misses as its size allows (3 lines for HalfCheetah) instead of
// one or two per column. Samples and snapshots hand out columns.
//
// Thread-safety: all methods are thread-safe. Inserts and priority updates take
// the writer lock. Samples copy rows without it, so inserts never wait for a
// sample's copying (and samplers run in parallel): every row position written
// has a number; a writer announces the positions it will overwrite (`begun_`)
// before writing and publishes them (`done_`) after, and a sampler that finds,
// after copying, that a row it copied was being overwritten draws that row
// again (seqlock-style; see Sample). A prioritized sample draws its rows under
// the reader lock (the sum tree) and copies them without it.
#ifndef SAC_REPLAY_SERVER_TABLE_H_
#define SAC_REPLAY_SERVER_TABLE_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "replay_server/rows.h"
#include "replay_server/selectors.h"
#include "sac/v1/replay.pb.h"

namespace sac::replay {

// Where each field of a row lies in the table's row record (byte offsets), and
// the record's size: floats first, then the 8-byte fields, then the small ones,
// padded to a multiple of 64 bytes (a cache line).
struct RowLayout {
  explicit RowLayout(const TableSpec& spec);
  int64_t obs, action, reward, next_obs, policy_version, key, actor_id, terminated, truncated;
  int64_t stride;
};

// Where a sample's rows go: one array per column, each with room for the
// batch's B rows (obs and next_obs B x obs_dim, action B x act_dim, the others
// B). The wire encoder and the SampleResponse both provide them.
struct SampleColumns {
  float* obs = nullptr;
  float* action = nullptr;
  float* reward = nullptr;
  float* next_obs = nullptr;
  float* probability = nullptr;  // of drawing the row, per draw
  uint8_t* terminated = nullptr;
  uint8_t* truncated = nullptr;
  uint64_t* policy_version = nullptr;
  uint64_t* key = nullptr;
  uint32_t* actor_id = nullptr;
};

struct TableOptions {
  TableSpec spec;
  int64_t capacity = 0;
  std::string selector = "uniform";  // "uniform" | "prioritized"
  double priority_exponent = 0.6;    // prioritized: alpha
};

// Every column of the table, plus the counters that define its state. Used to
// copy the table for a snapshot and to restore one; `slots` rows of each column.
struct TableContents {
  TableSpec spec;
  int64_t capacity = 0;
  int64_t size = 0;       // rows held: slots [0, size)
  int64_t head = 0;       // the slot the next insert writes
  uint64_t next_key = 0;  // key of the next inserted row
  uint64_t inserts_total = 0;
  uint64_t samples_total = 0;
  std::vector<float> obs, action, reward, next_obs;
  std::vector<uint8_t> terminated, truncated;
  std::vector<uint64_t> policy_version, key;
  std::vector<uint32_t> actor_id;
};

class ReplayTable {
 public:
  ~ReplayTable();
  ReplayTable(const ReplayTable&) = delete;
  ReplayTable& operator=(const ReplayTable&) = delete;

  // INVALID_ARGUMENT for a zero capacity or dimension or an unknown selector.
  static absl::StatusOr<std::unique_ptr<ReplayTable>> Create(const TableOptions& options);

  // Stores `rows` (already validated), evicting the oldest rows when full.
  // Returns the key of the first row; the rows get consecutive keys.
  uint64_t Insert(const RowsRef& rows) ABSL_LOCKS_EXCLUDED(mu_);
  // Recovery: stores `rows` with keys first_key.. (first_key >= next_key; a gap
  // means rows were lost and is allowed). Rows with keys below next_key are
  // skipped (already held).
  void InsertWithKey(uint64_t first_key, const RowsRef& rows) ABSL_LOCKS_EXCLUDED(mu_);

  // Draws `batch_size` rows (with replacement) into `out`: the batch columns,
  // keys, probabilities and table size. FAILED_PRECONDITION when the table is empty.
  absl::Status Sample(int64_t batch_size, absl::BitGenRef gen, v1::SampleResponse* out)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The same into `out`'s arrays; returns the table size the rows were drawn
  // from (the probabilities are per row).
  absl::StatusOr<int64_t> SampleInto(int64_t batch_size, absl::BitGenRef gen,
                                     const SampleColumns& out) ABSL_LOCKS_EXCLUDED(mu_);

  // Sets priorities of rows by key; keys no longer held are skipped. Returns how
  // many were updated. FAILED_PRECONDITION on a uniform table.
  absl::StatusOr<int64_t> UpdatePriorities(std::span<const uint64_t> keys,
                                           std::span<const float> priorities)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A consistent copy of every column and counter (for a snapshot).
  TableContents Copy() const ABSL_LOCKS_EXCLUDED(mu_);
  // The same into `out`, reusing its allocations (no page faults the second time).
  void CopyInto(TableContents* out) const ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces the contents with `contents` (spec and capacity must match) in a
  // table nothing was inserted into (recovery at start); FAILED_PRECONDITION
  // otherwise.
  absl::Status Restore(const TableContents& contents) ABSL_LOCKS_EXCLUDED(mu_);

  // Reads row with key `key` into a one-row `out` (tests, debugging).
  // NOT_FOUND when the key is not held.
  absl::Status ReadRow(uint64_t key, v1::TransitionBatch* out) const ABSL_LOCKS_EXCLUDED(mu_);

  int64_t size() const {
    return static_cast<int64_t>(
        std::min<uint64_t>(capacity_, done_.load(std::memory_order_acquire)));
  }
  int64_t capacity() const { return capacity_; }
  uint64_t next_key() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t inserts_total() const { return inserts_total_.load(std::memory_order_relaxed); }
  uint64_t samples_total() const { return samples_total_.load(std::memory_order_relaxed); }
  // Sampled rows drawn again because an insert overwrote them while they were
  // being copied (see Sample); the oldest rows of a busy table.
  uint64_t redrawn_rows() const { return redrawn_.load(std::memory_order_relaxed); }
  const TableSpec& spec() const { return spec_; }
  const char* selector_name() const { return selector_name_; }
  // Bytes of row storage in use (size x row record bytes).
  int64_t bytes_held() const { return size() * layout_.stride; }
  // Bytes of row storage the table allocates for `capacity` rows of `spec`.
  static int64_t StorageBytes(const TableSpec& spec, int64_t capacity) {
    return capacity * RowLayout(spec).stride;
  }

 private:
  // One drawn row: its position (see done_), its slot and the probability of
  // drawing it.
  struct Pick {
    uint64_t position;
    int64_t slot;
    double probability;
  };

  ReplayTable(const TableOptions& options, std::unique_ptr<Selector> selector, uint8_t* rows,
              size_t mapped_bytes);
  // Draws the rows `todo` of `picks` from the rows held once `done` positions
  // were written; returns how many rows that is (0: empty, nothing drawn).
  // A prioritized table must hold the reader lock.
  int64_t DrawInto(uint64_t done, std::span<const int64_t> todo, absl::BitGenRef gen,
                   Pick* picks) const;
  void WriteRowsLocked(uint64_t first_key, const RowsRef& rows, int64_t from)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot holding `key`, or -1.
  int64_t SlotOfLocked(uint64_t key) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  uint8_t* RowLocked(int64_t slot) const { return rows_ + slot * layout_.stride; }
  // The slot of row position `position` (see done_); of done_ itself: the
  // slot the next insert writes.
  int64_t HeadOf(uint64_t position) const {
    return static_cast<int64_t>(position % static_cast<uint64_t>(capacity_));
  }

  const TableSpec spec_;
  const RowLayout layout_;
  const int64_t capacity_;
  const bool prioritized_;
  const char* const selector_name_;  // the selector's name(), fixed at construction

  mutable absl::Mutex mu_;
  // Its state (the prioritized sum tree) is guarded by mu_; the uniform
  // selector has none and draws without it.
  const std::unique_ptr<Selector> selector_;
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 0;
  // Row positions: the n-th row written ever (counting from 0, or from where a
  // restored snapshot left off) has position n and lies in slot n % capacity;
  // the rows held are positions [done_ - size, done_). Written under mu_
  // (writer): begun_ before an insert's first store (the positions it is
  // writing end there), done_ after its last.
  std::atomic<uint64_t> begun_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> inserts_total_{0};
  std::atomic<uint64_t> samples_total_{0};
  std::atomic<uint64_t> redrawn_{0};
  // `capacity_` row records, mapped once in the constructor (zeroed, 64-byte
  // aligned), unmapped in the destructor. Guarded by mu_ (the pointer is const).
  uint8_t* rows_ = nullptr;
  size_t mapped_bytes_ = 0;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_TABLE_H_

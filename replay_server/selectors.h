// Selectors: how a table picks the rows of a sample. One small interface with
// two implementations: uniform (every held row equally likely, the default) and
// prioritized (probability proportional to priority^alpha, through a sum tree).
// The table calls Insert/Update under its writer lock and Sample under its
// reader lock (so Sample is const and thread-compatible), except the uniform
// selector's Sample, which has no state and is called without the lock.
#ifndef SAC_REPLAY_SERVER_SELECTORS_H_
#define SAC_REPLAY_SERVER_SELECTORS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"

namespace sac::replay {

struct Selection {
  int64_t slot = 0;
  double probability = 0;  // of drawing this slot in one draw
};

class Selector {
 public:
  virtual ~Selector() = default;
  // Slot `slot` now holds a new row (replacing the evicted one, if any).
  virtual void Insert(int64_t slot) = 0;
  // Sets the priority (>= 0, finite) of the row in `slot`. Uniform: no effect.
  virtual void Update(int64_t slot, double priority) = 0;
  // Draws one of the rows held in slots [0, size) (size >= 1; the table fills
  // slots in order, so the held slots are exactly those).
  virtual Selection Sample(int64_t size, absl::BitGenRef gen) const = 0;
  virtual const char* name() const = 0;
};

std::unique_ptr<Selector> MakeUniformSelector();

// A sum tree over `capacity` leaves. New rows get the largest priority seen so
// far (1 at first), as in prioritized experience replay.
class PrioritizedSelector final : public Selector {
 public:
  PrioritizedSelector(int64_t capacity, double priority_exponent);
  void Insert(int64_t slot) override;
  void Update(int64_t slot, double priority) override;
  Selection Sample(int64_t size, absl::BitGenRef gen) const override;
  const char* name() const override { return "prioritized"; }

  double total() const { return tree_[1]; }
  // The leaf weight (priority^alpha) of `slot`.
  double weight(int64_t slot) const { return tree_[leaves_ + slot]; }

 private:
  void SetWeight(int64_t slot, double weight);

  int64_t leaves_;  // power of two >= capacity
  double alpha_;
  double max_priority_ = 1.0;
  std::vector<double> tree_;  // 1-based heap; leaves at [leaves_, 2*leaves_)
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_SELECTORS_H_

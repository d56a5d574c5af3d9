#include "replay_server/selectors.h"

#include <cmath>

#include "absl/random/distributions.h"

namespace sac::replay {
namespace {

class UniformSelector final : public Selector {
 public:
  void Insert(int64_t) override {}
  void Update(int64_t, double) override {}
  Selection Sample(int64_t size, absl::BitGenRef gen) const override {
    return {absl::Uniform<int64_t>(gen, 0, size), 1.0 / static_cast<double>(size)};
  }
  const char* name() const override { return "uniform"; }
};

}  // namespace

std::unique_ptr<Selector> MakeUniformSelector() { return std::make_unique<UniformSelector>(); }

PrioritizedSelector::PrioritizedSelector(int64_t capacity, double priority_exponent)
    : leaves_(1), alpha_(priority_exponent) {
  while (leaves_ < capacity) leaves_ *= 2;
  tree_.assign(static_cast<size_t>(2 * leaves_), 0.0);
}

void PrioritizedSelector::SetWeight(int64_t slot, double weight) {
  int64_t i = leaves_ + slot;
  tree_[i] = weight;
  // Recompute parents from their children (not by adding delta), so rounding
  // errors do not accumulate over millions of updates.
  for (i /= 2; i >= 1; i /= 2) tree_[i] = tree_[2 * i] + tree_[2 * i + 1];
}

void PrioritizedSelector::Insert(int64_t slot) { SetWeight(slot, std::pow(max_priority_, alpha_)); }

void PrioritizedSelector::Update(int64_t slot, double priority) {
  if (priority > max_priority_) max_priority_ = priority;
  SetWeight(slot, std::pow(priority, alpha_));
}

Selection PrioritizedSelector::Sample(int64_t size, absl::BitGenRef gen) const {
  const double total = tree_[1];
  if (!(total > 0)) {
    // Every held row has priority 0: fall back to uniform over the held rows.
    return {absl::Uniform<int64_t>(gen, 0, size), 1.0 / static_cast<double>(size)};
  }
  double u = absl::Uniform<double>(gen, 0.0, total);
  int64_t i = 1;
  while (i < leaves_) {
    const double left = tree_[2 * i];
    if (u < left || tree_[2 * i + 1] <= 0) {
      i = 2 * i;
    } else {
      u -= left;
      i = 2 * i + 1;
    }
  }
  int64_t slot = i - leaves_;
  // Rounding can land on an empty leaf at the edge; step back to a weighted one.
  while (tree_[leaves_ + slot] <= 0 && slot > 0) --slot;
  return {slot, tree_[leaves_ + slot] / total};
}

}  // namespace sac::replay

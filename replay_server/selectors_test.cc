#include "replay_server/selectors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "absl/random/random.h"

namespace sac::replay {
namespace {

// Pearson's chi-square statistic of `counts` against `expected` probabilities.
double ChiSquare(const std::vector<int64_t>& counts, const std::vector<double>& expected,
                 int64_t n) {
  double chi = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = expected[i] * static_cast<double>(n);
    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

// Upper 0.1% point of chi-square with k degrees of freedom (Wilson-Hilferty):
// a correct sampler fails this one run in a thousand; the seeds are fixed.
double ChiSquareCritical(int k) {
  const double z = 3.09;  // one-sided 0.999
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1 - a + z * std::sqrt(a), 3);
}

TEST(SelectorsTest, UniformMatchesEqualProbabilities) {
  auto s = MakeUniformSelector();
  absl::BitGen gen(std::seed_seq{42});
  const int64_t size = 50, n = 200000;
  std::vector<int64_t> counts(size, 0);
  for (int64_t i = 0; i < n; ++i) {
    const Selection sel = s->Sample(size, gen);
    ASSERT_GE(sel.slot, 0);
    ASSERT_LT(sel.slot, size);
    EXPECT_DOUBLE_EQ(sel.probability, 1.0 / size);
    ++counts[sel.slot];
  }
  const double chi = ChiSquare(counts, std::vector<double>(size, 1.0 / size), n);
  EXPECT_LT(chi, ChiSquareCritical(size - 1)) << chi;
}

TEST(SelectorsTest, PrioritizedMatchesPriorityToTheAlpha) {
  const int64_t capacity = 20;
  const double alpha = 0.6;
  PrioritizedSelector s(capacity, alpha);
  for (int64_t i = 0; i < capacity; ++i) s.Insert(i);
  std::vector<double> weight(capacity);
  double total = 0;
  for (int64_t i = 0; i < capacity; ++i) {
    const double p = 0.1 + i % 7;  // includes a zero-ish spread of priorities
    s.Update(i, p);
    weight[i] = std::pow(p, alpha);
    total += weight[i];
  }
  s.Update(3, 0.0);  // a zero priority is never drawn
  total -= weight[3];
  weight[3] = 0;
  EXPECT_NEAR(s.total(), total, 1e-9);
  std::vector<double> expected(capacity);
  for (int64_t i = 0; i < capacity; ++i) expected[i] = weight[i] / total;
  absl::BitGen gen(std::seed_seq{7});
  const int64_t n = 200000;
  std::vector<int64_t> counts(capacity, 0);
  for (int64_t i = 0; i < n; ++i) {
    const Selection sel = s.Sample(capacity, gen);
    ASSERT_NE(sel.slot, 3);
    EXPECT_NEAR(sel.probability, expected[sel.slot], 1e-9);
    ++counts[sel.slot];
  }
  std::vector<int64_t> c2;
  std::vector<double> e2;
  for (int64_t i = 0; i < capacity; ++i) {
    if (i == 3) continue;
    c2.push_back(counts[i]);
    e2.push_back(expected[i]);
  }
  const double chi = ChiSquare(c2, e2, n);
  EXPECT_LT(chi, ChiSquareCritical(static_cast<int>(c2.size()) - 1)) << chi;
}

TEST(SelectorsTest, PrioritizedNewRowsGetTheLargestPrioritySeen) {
  PrioritizedSelector s(4, 1.0);
  s.Insert(0);
  EXPECT_DOUBLE_EQ(s.weight(0), 1.0);
  s.Update(0, 5.0);
  s.Insert(1);
  EXPECT_DOUBLE_EQ(s.weight(1), 5.0);
  EXPECT_DOUBLE_EQ(s.total(), 10.0);
}

TEST(SelectorsTest, PrioritizedOnlyDrawsHeldSlotsAfterManyUpdates) {
  PrioritizedSelector s(1000, 0.7);
  absl::BitGen gen(std::seed_seq{3});
  for (int64_t i = 0; i < 300; ++i) s.Insert(i);
  for (int i = 0; i < 100000; ++i) {
    s.Update(absl::Uniform<int64_t>(gen, 0, 300), absl::Uniform<double>(gen, 0, 10));
  }
  for (int i = 0; i < 10000; ++i) {
    const Selection sel = s.Sample(300, gen);
    ASSERT_LT(sel.slot, 300);
    ASSERT_GT(s.weight(sel.slot), 0);
  }
}

}  // namespace
}  // namespace sac::replay

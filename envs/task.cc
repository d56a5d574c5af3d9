#include "envs/task.h"

namespace sac::envs {
namespace {

// numpy's pairwise_sum (numpy/_core/src/umath/loops_utils.h.src) for T = the
// array's dtype: plain loop below 8 elements, 8 accumulators up to 128, halves above.
template <typename T, typename Get>
T PairwiseSum(int n, const Get& get, int offset) {
  if (n < 8) {
    T res = static_cast<T>(-0.0);
    for (int i = 0; i < n; ++i) res += get(offset + i);
    return res;
  }
  if (n <= 128) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = get(offset + j);
    int i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += get(offset + i + j);
    }
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += get(offset + i);
    return res;
  }
  int n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum<T>(n2, get, offset) + PairwiseSum<T>(n - n2, get, offset + n2);
}

}  // namespace

double NumpySum(const double* x, int n) {
  return PairwiseSum<double>(
      n, [x](int i) { return x[i]; }, 0);
}
float NumpySum(const float* x, int n) {
  return PairwiseSum<float>(
      n, [x](int i) { return x[i]; }, 0);
}
float SumSquaresF32(const float* x, int n) {
  return PairwiseSum<float>(
      n, [x](int i) { return x[i] * x[i]; }, 0);
}
double SumSquares(const double* x, int n) {
  return PairwiseSum<double>(
      n, [x](int i) { return x[i] * x[i]; }, 0);
}

void Task::SimulateFrames(const mjModel* m, mjData* d, const float* action) const {
  for (int i = 0; i < m->nu; ++i) d->ctrl[i] = static_cast<double>(action[i]);
  for (int k = 0; k < spec_.shape.frame_skip; ++k) mj_step(m, d);
  if (spec_.reads_rne_post) mj_rnePostConstraint(m, d);
}

}  // namespace sac::envs

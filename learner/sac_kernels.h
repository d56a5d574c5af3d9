// The small elementwise steps of the hand-written SAC update (CPU), as plain
// loops over float arrays: ReLU and its backward fused with the bias gradient,
// the width-1 output layer's backward, and the tanh-squashed Gaussian's sample,
// log-density and backward. The matrix products between them are LibTorch's
// (sac_learner.cc). No LibTorch here.
//
// Layouts are row-major; `ld_*` is a leading dimension (the distance between
// rows, >= the row's width), so that column blocks of a wider buffer (the
// action columns of a Q-function's input) can be read or written in place.
#ifndef SAC_LEARNER_SAC_KERNELS_H_
#define SAC_LEARNER_SAC_KERNELS_H_

#include <cstdint>

namespace sac::learner::kernels {

// x = max(x, 0) for n values.
void ReluInPlace(float* x, int64_t n);

// x[i, j] += b[j] for rows x cols (contiguous), then, with `relu`, x = max(x, 0):
// the bias and activation of a layer whose product was written with beta = 0.
void AddBias(int64_t rows, int64_t cols, const float* b, bool relu, float* x);

// The backward of a ReLU layer output h [rows, cols]: g = (h > 0) ? g : 0 in
// place, and, when bias_grad is not null, bias_grad[j] = sum_i g[i, j] (the
// gradient of the bias of the layer that produced h).
void ReluBackward(int64_t rows, int64_t cols, const float* h, int64_t ld_h, float* g, int64_t ld_g,
                  float* bias_grad);

// The backward of a width-1 output layer y = h w^T + b over ReLU outputs h
// [rows, cols] (contiguous) with dy [rows]:
//   weight_grad[j] = sum_i dy[i] h[i, j], *bias_grad = sum_i dy[i] (both when not null),
//   g[i, j] = h[i, j] > 0 ? dy[i] w[j] : 0 (g contiguous [rows, cols]),
//   hidden_bias_grad[j] = sum_i g[i, j] (when not null).
void ScalarHeadBackward(int64_t rows, int64_t cols, const float* dy, const float* w, const float* h,
                        float* weight_grad, float* bias_grad, float* g, float* hidden_bias_grad);

// The same for selected rows only (no weight or bias gradients): for r < k,
// g[r, j] = h[rows[r], j] > 0 ? dy[rows[r]] w[j] : 0 (h, g contiguous, cols wide).
void ScalarHeadBackwardRows(int64_t k, int64_t cols, const int64_t* rows, const float* dy,
                            const float* w, const float* h, float* g);

// ReLU backward for selected rows of h: g[r, j] = h[rows[r], j] > 0 ? g[r, j] : 0.
void ReluBackwardRows(int64_t k, int64_t cols, const int64_t* rows, const float* h, float* g);

// dst[rows[r], :] += src[r, :] for r < k (both cols wide).
void ScatterAddRows(int64_t k, int64_t cols, const int64_t* rows, const float* src, float* dst);

// out[j] = sum_i x[i, j] for rows x cols with leading dimension ld.
void ColumnSum(int64_t rows, int64_t cols, const float* x, int64_t ld, float* out);

struct SquashParams {
  int64_t act_dim = 0;
  const float* scale = nullptr;  // [act_dim]: (high - low) / 2
  const float* bias = nullptr;   // [act_dim]: (high + low) / 2
  float log_std_min = -20;
  float log_std_max = 2;
  double log_scale_sum = 0;  // sum_j log scale_j
};

// The tanh-squashed Gaussian (docs/learner.md) for `rows` rows of the policy's
// head output `head` [rows, 2A] (mean, then the log-std before clamping),
// noise eps [rows, A]: u = mean + exp(clamp(log_std)) eps, action = tanh(u)
// scale + bias (written with leading dimension ld_action), log_prob [rows] =
// sum_j [-eps^2/2 - log_std - log(2 pi)/2 - log(1 - tanh(u)^2)] - log_scale_sum,
// with log(1 - tanh(u)^2) = 2 (log 2 - |u| - log1p(exp(-2|u|))) (exact, finite
// for every u). When not null, tanh_u and std_eps [rows, A] receive tanh(u) and
// exp(log_std) eps for SquashBackward. Returns the sum of the clamped log-stds.
double SquashForward(const SquashParams& p, int64_t rows, const float* head, const float* eps,
                     float* action, int64_t ld_action, float* log_prob, float* tanh_u,
                     float* std_eps);

// The gradient of a loss with respect to the head output [rows, 2A], given
// dL/d action [rows, A] (may be null: zero) and dL/d log_prob, the same for
// every row (eps is a constant: reparameterization). The log-std's gradient is
// zero where the clamp was active (as torch.clamp's backward).
void SquashBackward(const SquashParams& p, int64_t rows, const float* head, const float* tanh_u,
                    const float* std_eps, const float* grad_action, float grad_log_prob,
                    float* grad_head);

}  // namespace sac::learner::kernels

#endif  // SAC_LEARNER_SAC_KERNELS_H_

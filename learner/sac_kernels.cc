#include "learner/sac_kernels.h"

#include <algorithm>
#include <cmath>

namespace sac::learner::kernels {
namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178;  // 0.5 * log(2 pi)
constexpr float kLog2 = 0.69314718055994530942f;

}  // namespace

// The loops over [rows, hidden] buffers are built for AVX-512, AVX2 and the
// base ISA; the loader picks the best the CPU has (GCC function multiversioning).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SAC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SAC_VECTOR_CLONES
#endif

SAC_VECTOR_CLONES void ReluInPlace(float* x, int64_t n) {
  for (int64_t k = 0; k < n; ++k) x[k] = std::max(x[k], 0.0f);
}

SAC_VECTOR_CLONES void AddBias(int64_t rows, int64_t cols, const float* __restrict b, bool relu,
                               float* x) {
  for (int64_t i = 0; i < rows; ++i) {
    float* __restrict xi = x + i * cols;
    if (relu) {
      for (int64_t j = 0; j < cols; ++j) xi[j] = std::max(xi[j] + b[j], 0.0f);
    } else {
      for (int64_t j = 0; j < cols; ++j) xi[j] += b[j];
    }
  }
}

SAC_VECTOR_CLONES void ReluBackward(int64_t rows, int64_t cols, const float* h, int64_t ld_h,
                                    float* g, int64_t ld_g, float* __restrict bias_grad) {
  if (bias_grad != nullptr) std::fill(bias_grad, bias_grad + cols, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const float* __restrict hi = h + i * ld_h;
    float* __restrict gi = g + i * ld_g;
    if (bias_grad != nullptr) {
      for (int64_t j = 0; j < cols; ++j) {
        const float v = hi[j] > 0.0f ? gi[j] : 0.0f;
        gi[j] = v;
        bias_grad[j] += v;
      }
    } else {
      for (int64_t j = 0; j < cols; ++j) gi[j] = hi[j] > 0.0f ? gi[j] : 0.0f;
    }
  }
}

SAC_VECTOR_CLONES void ScalarHeadBackward(int64_t rows, int64_t cols, const float* __restrict dy,
                                          const float* __restrict w, const float* h,
                                          float* __restrict weight_grad, float* bias_grad, float* g,
                                          float* __restrict hidden_bias_grad) {
  if (weight_grad != nullptr) std::fill(weight_grad, weight_grad + cols, 0.0f);
  if (hidden_bias_grad != nullptr) std::fill(hidden_bias_grad, hidden_bias_grad + cols, 0.0f);
  float dy_sum = 0.0f;
  for (int64_t i = 0; i < rows; ++i) {
    const float d = dy[i];
    dy_sum += d;
    const float* __restrict hi = h + i * cols;
    float* __restrict gi = g + i * cols;
    if (weight_grad != nullptr) {
      for (int64_t j = 0; j < cols; ++j) weight_grad[j] += d * hi[j];
    }
    for (int64_t j = 0; j < cols; ++j) gi[j] = hi[j] > 0.0f ? d * w[j] : 0.0f;
    if (hidden_bias_grad != nullptr) {
      for (int64_t j = 0; j < cols; ++j) hidden_bias_grad[j] += gi[j];
    }
  }
  if (bias_grad != nullptr) *bias_grad = dy_sum;
}

SAC_VECTOR_CLONES void ScalarHeadBackwardRows(int64_t k, int64_t cols, const int64_t* rows,
                                              const float* dy, const float* __restrict w,
                                              const float* h, float* g) {
  for (int64_t r = 0; r < k; ++r) {
    const float d = dy[rows[r]];
    const float* __restrict hi = h + rows[r] * cols;
    float* __restrict gi = g + r * cols;
    for (int64_t j = 0; j < cols; ++j) gi[j] = hi[j] > 0.0f ? d * w[j] : 0.0f;
  }
}

SAC_VECTOR_CLONES void ReluBackwardRows(int64_t k, int64_t cols, const int64_t* rows,
                                        const float* h, float* g) {
  for (int64_t r = 0; r < k; ++r) {
    const float* __restrict hi = h + rows[r] * cols;
    float* __restrict gi = g + r * cols;
    for (int64_t j = 0; j < cols; ++j) gi[j] = hi[j] > 0.0f ? gi[j] : 0.0f;
  }
}

void ScatterAddRows(int64_t k, int64_t cols, const int64_t* rows, const float* src, float* dst) {
  for (int64_t r = 0; r < k; ++r) {
    for (int64_t j = 0; j < cols; ++j) dst[rows[r] * cols + j] += src[r * cols + j];
  }
}

SAC_VECTOR_CLONES void ColumnSum(int64_t rows, int64_t cols, const float* x, int64_t ld,
                                 float* __restrict out) {
  std::fill(out, out + cols, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * ld;
    for (int64_t j = 0; j < cols; ++j) out[j] += xi[j];
  }
}

double SquashForward(const SquashParams& p, int64_t rows, const float* head, const float* eps,
                     float* action, int64_t ld_action, float* log_prob, float* tanh_u,
                     float* std_eps) {
  const int64_t a = p.act_dim;
  double log_std_sum = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* mean = head + i * 2 * a;
    const float* raw_log_std = mean + a;
    const float* e = eps + i * a;
    double lp = -p.log_scale_sum;
    for (int64_t j = 0; j < a; ++j) {
      const float log_std = std::min(std::max(raw_log_std[j], p.log_std_min), p.log_std_max);
      const float se = std::exp(log_std) * e[j];
      const float u = mean[j] + se;
      const float abs_u = std::fabs(u);
      // exp(-2|u|) - 1, accurate near 0: tanh|u| = -em1 / (2 + em1).
      const float em1 = std::expm1(-2.0f * abs_u);
      const float t = std::copysign(-em1 / (2.0f + em1), u);
      action[i * ld_action + j] = t * p.scale[j] + p.bias[j];
      // log(1 - tanh(u)^2) = 2 (log 2 - |u| - log1p(exp(-2|u|))).
      const float log_det = 2.0f * (kLog2 - abs_u - std::log1p(1.0f + em1));
      lp += -0.5 * static_cast<double>(e[j]) * e[j] - log_std - kHalfLog2Pi - log_det;
      log_std_sum += log_std;
      if (tanh_u != nullptr) tanh_u[i * a + j] = t;
      if (std_eps != nullptr) std_eps[i * a + j] = se;
    }
    log_prob[i] = static_cast<float>(lp);
  }
  return log_std_sum;
}

void SquashBackward(const SquashParams& p, int64_t rows, const float* head, const float* tanh_u,
                    const float* std_eps, const float* grad_action, float grad_log_prob,
                    float* grad_head) {
  const int64_t a = p.act_dim;
  for (int64_t i = 0; i < rows; ++i) {
    const float* raw_log_std = head + i * 2 * a + a;
    float* g_mean = grad_head + i * 2 * a;
    float* g_log_std = g_mean + a;
    for (int64_t j = 0; j < a; ++j) {
      const float t = tanh_u[i * a + j];
      const float ga = grad_action != nullptr ? grad_action[i * a + j] : 0.0f;
      // d log_prob / du = 2 tanh(u) (from -log(1 - tanh^2)); d action / du = scale (1 - tanh^2).
      const float du = ga * p.scale[j] * (1.0f - t * t) + grad_log_prob * 2.0f * t;
      g_mean[j] = du;
      // d u / d log_std = std eps; d log_prob / d log_std = -1 directly.
      const float raw = raw_log_std[j];
      const bool inside = raw >= p.log_std_min && raw <= p.log_std_max;
      g_log_std[j] = inside ? du * std_eps[i * a + j] - grad_log_prob : 0.0f;
    }
  }
}

}  // namespace sac::learner::kernels

// The hand-written SAC update (CPU, the default there): the same equations as
// the autograd update (sac_update_autograd.cc, docs/learner.md), with each
// loss's gradient derived by hand and written straight into the flat gradient
// buffer, preallocated buffers per batch size, and the elementwise steps fused
// (sac_kernels.h). bench/learner_throughput measures it against the autograd
// update and a plain PyTorch loop.
//
// sac.matmul_dtype=bfloat16: the products of the hidden layers (forward,
// weight gradient, input gradient) multiply bfloat16 copies of their operands
// (oneDNN on AVX512-BF16/AMX: float32 accumulation, the result rounded to
// bfloat16, as under autocast) and widen the result into the same float32
// buffers; the output layers (Q, V, the policy's mean/log-std head: narrow,
// and where the losses are read), the weights, gradients, Adam and every
// elementwise step stay float32 (docs/learner.md "bfloat16 products").
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "learner/sac_learner_internal.h"

namespace sac::learner {

using internal::kNaN;
using internal::Mlp;
using internal::Trace;
using torch::Tensor;

namespace internal {

Mlp MakeMlp(const Net& net, int c, const std::vector<Tensor>& grads) {
  Mlp m;
  for (size_t i = 0; i < net.weight.size(); ++i) {
    Layer l;
    l.w = net.twin ? net.weight[i][c] : net.weight[i];
    l.b = net.twin ? net.bias[i][c] : net.bias[i];
    if (!grads.empty()) {
      l.gw = net.twin ? grads[2 * i][c] : grads[2 * i];
      l.gb = net.twin ? grads[2 * i + 1][c] : grads[2 * i + 1];
    }
    m.push_back(l);
  }
  return m;
}

Tensor Bf16Scratch::Result(int64_t rows, int64_t cols) {
  if (!buffer.defined() || buffer.numel() < rows * cols) {
    buffer = torch::empty({rows * cols}, torch::kBFloat16);
  }
  return buffer.narrow(0, 0, rows * cols).view({rows, cols});
}

}  // namespace internal

namespace {

using internal::Bf16Scratch;

// `bf16`: also the bfloat16 operand copies of the hidden layers' products.
Trace MakeTrace(const Mlp& m, int64_t rows, bool bf16) {
  Trace t;
  const auto opts = m[0].w.options();
  for (size_t i = 0; i + 1 < m.size(); ++i) {
    t.h.push_back(torch::empty({rows, m[i].w.size(0)}, opts));
    t.gh.push_back(torch::empty({rows, m[i].w.size(0)}, opts));
    if (bf16) {
      t.h16.push_back(torch::empty({rows, m[i].w.size(0)}, opts.dtype(torch::kBFloat16)));
      t.g16.push_back(torch::empty({rows, m[i].w.size(0)}, opts.dtype(torch::kBFloat16)));
    }
  }
  t.out = torch::empty({rows, m.back().w.size(0)}, opts);
  t.gout = torch::empty({rows, m.back().w.size(0)}, opts);
  if (bf16) t.x16 = torch::empty({rows, m[0].w.size(1)}, opts.dtype(torch::kBFloat16));
  return t;
}

// Rows [start, start + rows) of every buffer of t (views).
Trace TraceRows(const Trace& t, int64_t start, int64_t rows) {
  Trace out;
  for (const Tensor& h : t.h) out.h.push_back(h.narrow(0, start, rows));
  for (const Tensor& g : t.gh) out.gh.push_back(g.narrow(0, start, rows));
  out.out = t.out.narrow(0, start, rows);
  out.gout = t.gout.narrow(0, start, rows);
  if (t.x16.defined()) out.x16 = t.x16.narrow(0, start, rows);
  for (const Tensor& h : t.h16) out.h16.push_back(h.narrow(0, start, rows));
  for (const Tensor& g : t.g16) out.g16.push_back(g.narrow(0, start, rows));
  return out;
}

// out (float32) = a16 b16 for bfloat16 operands: the product's bfloat16 result
// in scratch, widened into out (accumulate: added to out).
void ProductBf16(Bf16Scratch& scratch, const Tensor& a16, const Tensor& b16, Tensor& out,
                 bool accumulate = false) {
  Tensor r = scratch.Result(out.size(0), out.size(1));
  at::mm_out(r, a16, b16);
  if (accumulate) {
    out.add_(r);
  } else {
    out.copy_(r);
  }
}

// Forward pass into t's buffers: h_{l+1} = relu(h_l W_l^T + b_l), none after the last
// (the product with beta = 0, then bias and ReLU in one pass). With `bf16`
// (scratch), the hidden layers' products read bfloat16 copies of x, the h and
// the weights.
void Forward(const Mlp& m, const Tensor& x, Trace& t, Bf16Scratch* bf16) {
  Tensor in = x;
  if (bf16 != nullptr) t.x16.copy_(x);
  for (size_t l = 0; l < m.size(); ++l) {
    const bool hidden = l + 1 < m.size();
    Tensor& out = hidden ? t.h[l] : t.out;
    if (bf16 != nullptr && hidden) {
      ProductBf16(*bf16, l == 0 ? t.x16 : t.h16[l - 1], m[l].w16.t(), out);
    } else {
      at::mm_out(out, in, m[l].w.t());
    }
    kernels::AddBias(out.size(0), out.size(1), m[l].b.data_ptr<float>(), hidden,
                     out.data_ptr<float>());
    if (bf16 != nullptr && hidden) t.h16[l].copy_(out);
    in = out;
  }
}

// Backward pass from t.gout (dL/d output, filled by the caller). With
// `weights`, every layer's weight and bias gradient is written (overwritten)
// into the layer's gradient views. With `input_grad`, dL/d x[:, from:] is
// written (accumulate: added) there: the gradient to the action columns of a
// Q-function's input. With `bf16`, the hidden layers' products read the
// bfloat16 copies Forward left in t (of the same x).
void Backward(const Mlp& m, const Tensor& x, Trace& t, bool weights, Tensor* input_grad,
              int64_t from, bool accumulate, Bf16Scratch* bf16) {
  const size_t layers = m.size();
  const int64_t rows = x.size(0);
  Tensor g = t.gout;
  for (size_t l = layers; l-- > 0;) {
    const Tensor& in = l == 0 ? x : t.h[l - 1];
    if (l > 0 && l + 1 == layers && g.size(1) == 1) {
      // Width-1 output: one pass gives its weight and bias gradient and the
      // masked gradient of the layer below, with that layer's bias gradient.
      kernels::ScalarHeadBackward(
          rows, in.size(1), g.data_ptr<float>(), m[l].w.data_ptr<float>(), in.data_ptr<float>(),
          weights ? m[l].gw.data_ptr<float>() : nullptr,
          weights ? m[l].gb.data_ptr<float>() : nullptr, t.gh[l - 1].data_ptr<float>(),
          weights ? m[l - 1].gb.data_ptr<float>() : nullptr);
      g = t.gh[l - 1];
      continue;
    }
    if (bf16 != nullptr && l + 1 < layers) {
      // A hidden layer in bfloat16: g's copy, then the same three products.
      Tensor g16 = t.g16[l];
      g16.copy_(g);
      const Tensor& in16 = l == 0 ? t.x16 : t.h16[l - 1];
      if (weights) {
        Tensor gw = m[l].gw;
        ProductBf16(*bf16, g16.t(), in16, gw);
      }
      if (l > 0) {
        Tensor& gin = t.gh[l - 1];
        ProductBf16(*bf16, g16, m[l].w16, gin);
        kernels::ReluBackward(rows, gin.size(1), in.data_ptr<float>(), in.size(1),
                              gin.data_ptr<float>(), gin.size(1),
                              weights ? m[l - 1].gb.data_ptr<float>() : nullptr);
        g = gin;
      } else if (input_grad != nullptr) {
        ProductBf16(*bf16, g16, m[0].w16.narrow(1, from, m[0].w16.size(1) - from), *input_grad,
                    accumulate);
      }
      continue;
    }
    if (weights) {
      Tensor gw = m[l].gw;  // a view: the product lands in flat_grads
      at::mm_out(gw, g.t(), in);
      if (l + 1 == layers) {
        kernels::ColumnSum(rows, g.size(1), g.data_ptr<float>(), g.size(1),
                           m[l].gb.data_ptr<float>());
      }
    }
    if (l > 0) {
      Tensor& gin = t.gh[l - 1];
      at::mm_out(gin, g, m[l].w);
      kernels::ReluBackward(rows, gin.size(1), in.data_ptr<float>(), in.size(1),
                            gin.data_ptr<float>(), gin.size(1),
                            weights ? m[l - 1].gb.data_ptr<float>() : nullptr);
      g = gin;
    } else if (input_grad != nullptr) {
      const Tensor w = m[0].w.narrow(1, from, m[0].w.size(1) - from);
      if (accumulate) {
        input_grad->addmm_(g, w);
      } else {
        at::mm_out(*input_grad, g, w);
      }
    }
  }
}

// Backward of a Q-function evaluated on both row sets at once (x [2n, in]:
// rows [0, n) the batch's actions, rows [n, 2n) the fresh actions; at least
// one hidden layer, width-1 output). The first rows give the weight and bias
// gradients (J_Q). Of the fresh rows only `active` ones carry a gradient (the
// min of the twins sends J_pi's gradient to the smaller Q of each row): they
// are packed after the first n rows of the gradient buffers, so that each
// product runs once over n + |active| rows, and their gradient to the action
// columns x[n:, from:] is added into grad_action (J_pi, weights held
// constant). `packed_action` is scratch [n, A].
void BackwardStacked(const Mlp& m, const Tensor& x, Trace& t, int64_t n,
                     const std::vector<int64_t>& active, Tensor& packed_action, Tensor& grad_action,
                     int64_t from, Bf16Scratch* bf16) {
  const size_t layers = m.size();
  const int64_t k = static_cast<int64_t>(active.size());
  const int64_t* rows = active.data();
  {
    const size_t l = layers - 1;
    const int64_t cols = t.h[l - 1].size(1);
    const float* h = t.h[l - 1].data_ptr<float>();
    const float* gout = t.gout.data_ptr<float>();
    float* gh = t.gh[l - 1].data_ptr<float>();
    kernels::ScalarHeadBackward(n, cols, gout, m[l].w.data_ptr<float>(), h,
                                m[l].gw.data_ptr<float>(), m[l].gb.data_ptr<float>(), gh,
                                m[l - 1].gb.data_ptr<float>());
    kernels::ScalarHeadBackwardRows(k, cols, rows, gout + n, m[l].w.data_ptr<float>(), h + n * cols,
                                    gh + n * cols);
  }
  Tensor g = t.gh[layers - 2].narrow(0, 0, n + k);
  for (size_t l = layers - 1; l-- > 0;) {
    const Tensor& in = l == 0 ? x : t.h[l - 1];
    const int64_t cols = in.size(1);
    Tensor gw = m[l].gw;
    // Every layer below the head is hidden: with bf16 its products read
    // bfloat16 copies (g's made here, the input's by Forward).
    Tensor g16;
    if (bf16 != nullptr) {
      g16 = t.g16[l].narrow(0, 0, n + k);
      g16.copy_(g);
      const Tensor& in16 = l == 0 ? t.x16 : t.h16[l - 1];
      ProductBf16(*bf16, g16.narrow(0, 0, n).t(), in16.narrow(0, 0, n), gw);
    } else {
      at::mm_out(gw, g.narrow(0, 0, n).t(), in.narrow(0, 0, n));
    }
    if (l > 0) {
      Tensor gin = t.gh[l - 1].narrow(0, 0, n + k);
      if (bf16 != nullptr) {
        ProductBf16(*bf16, g16, m[l].w16, gin);
      } else {
        at::mm_out(gin, g, m[l].w);
      }
      const float* h = in.data_ptr<float>();
      float* gp = gin.data_ptr<float>();
      kernels::ReluBackward(n, cols, h, cols, gp, cols, m[l - 1].gb.data_ptr<float>());
      kernels::ReluBackwardRows(k, cols, rows, h + n * cols, gp + n * cols);
      g = gin;
    } else {
      Tensor packed = packed_action.narrow(0, 0, k);
      if (bf16 != nullptr) {
        ProductBf16(*bf16, g16.narrow(0, n, k), m[0].w16.narrow(1, from, m[0].w16.size(1) - from),
                    packed);
      } else {
        at::mm_out(packed, g.narrow(0, n, k), m[0].w.narrow(1, from, m[0].w.size(1) - from));
      }
      kernels::ScatterAddRows(k, packed.size(1), rows, packed.data_ptr<float>(),
                              grad_action.data_ptr<float>());
    }
  }
}

}  // namespace

void SacLearner::Impl::MakeBf16Weights() {
  flat_params16 = torch::empty({flat_params.numel()}, torch::kBFloat16);
  flat_targets16 = torch::empty({flat_targets.numel()}, torch::kBFloat16);
  // Each layer's w16: the view of the bfloat16 copy at w's place in its flat buffer.
  auto shadow = [&](internal::Layer& l) {
    const bool trained = l.w.is_alias_of(flat_params);
    const Tensor& flat32 = trained ? flat_params : flat_targets;
    const Tensor& flat16 = trained ? flat_params16 : flat_targets16;
    l.w16 = flat16.as_strided(l.w.sizes(), l.w.strides(),
                              l.w.storage_offset() - flat32.storage_offset());
  };
  for (Mlp* m : {&policy_mlp, &q_mlp[0], &q_mlp[1], &q_target_mlp[0], &q_target_mlp[1], &v_mlp,
                 &v_target_mlp}) {
    for (internal::Layer& l : *m) shadow(l);
  }
}

void SacLearner::Impl::PrepareWork(int64_t n) {
  if (work.batch == n) return;
  const auto opts = flat_params.options();
  const int64_t o = options.obs_dim, a = options.act_dim;
  Work w;
  w.batch = n;
  w.policy = MakeTrace(policy_mlp, n, bf16);
  w.xq_both = torch::empty({2 * n, o + a}, opts);
  w.xq_data = w.xq_both.narrow(0, 0, n);
  w.xq_fresh = w.xq_both.narrow(0, n, n);
  for (int c = 0; c < 2; ++c) {
    w.q_both[c] = MakeTrace(q_mlp[c], 2 * n, bf16);
    w.q_data[c] = TraceRows(w.q_both[c], 0, n);
    w.q_fresh[c] = TraceRows(w.q_both[c], n, n);
  }
  if (v2) {
    w.policy_next = MakeTrace(policy_mlp, n, bf16);
    for (int c = 0; c < 2; ++c) w.q_next[c] = MakeTrace(q_target_mlp[c], n, bf16);
    w.xq_next = torch::empty({n, o + a}, opts);
    w.log_prob_next = torch::empty({n}, opts);
  } else {
    w.v = MakeTrace(v_mlp, n, bf16);
    w.v_next = MakeTrace(v_target_mlp, n, bf16);
  }
  w.grad_action = torch::empty({n, a}, opts);
  w.packed_action = torch::empty({n, a}, opts);
  w.active[0].reserve(n);
  w.active[1].reserve(n);
  w.log_prob = torch::empty({n}, opts);
  w.tanh_u = torch::empty({n, a}, opts);
  w.std_eps = torch::empty({n, a}, opts);
  w.q_hat = torch::empty({n}, opts);
  work = std::move(w);
}

// The update written out: the same equations as Step (docs/learner.md), with
// the gradients of each loss derived by hand and written straight into
// flat_grads. CPU only.
UpdateMetrics SacLearner::Impl::ManualStep(const HostBatch& b, const float* noise) {
  torch::NoGradGuard no_grad;
  const int64_t n = b.batch_size, o = options.obs_dim, a = options.act_dim;
  PrepareWork(n);
  Work& w = work;
  const double gamma = config.gamma();
  const float alpha = learn_alpha ? std::exp(log_alpha.data_ptr<float>()[0])
                                  : static_cast<float>(config.initial_temperature());
  auto wrap = [](const float* data, int64_t rows, int64_t cols) {
    return torch::from_blob(const_cast<float*>(data), {rows, cols}, torch::kFloat);
  };
  Bf16Scratch* bf = nullptr;
  if (bf16) {
    // This update's bfloat16 weights (the float32 ones changed in the last
    // update, or in a checkpoint load).
    flat_params16.copy_(flat_params);
    flat_targets16.copy_(flat_targets);
    bf = &w.scratch16;
  }
  const Tensor obs = wrap(b.obs, n, o);
  const Tensor next_obs = wrap(b.next_obs, n, o);
  // Q inputs (s, a): the observation columns, then the action columns.
  auto fill_obs = [&](Tensor& x, const float* src) {
    float* dst = x.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * (o + a), src + i * o, sizeof(float) * o);
  };
  fill_obs(w.xq_data, b.obs);
  fill_obs(w.xq_fresh, b.obs);
  {
    float* dst = w.xq_data.data_ptr<float>() + o;
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(dst + i * (o + a), b.action + i * a, sizeof(float) * a);
    }
  }

  // Bellman target Q-hat, no gradient.
  float* q_hat = w.q_hat.data_ptr<float>();
  {
    std::vector<float> next_value(n);
    if (v2) {
      Forward(policy_mlp, next_obs, w.policy_next, bf);
      fill_obs(w.xq_next, b.next_obs);
      kernels::SquashForward(squash, n, w.policy_next.out.data_ptr<float>(), noise,
                             w.xq_next.data_ptr<float>() + o, o + a,
                             w.log_prob_next.data_ptr<float>(), nullptr, nullptr);
      for (int c = 0; c < 2; ++c) Forward(q_target_mlp[c], w.xq_next, w.q_next[c], bf);
      const float* q1 = w.q_next[0].out.data_ptr<float>();
      const float* q2 = w.q_next[1].out.data_ptr<float>();
      const float* lp = w.log_prob_next.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) next_value[i] = std::min(q1[i], q2[i]) - alpha * lp[i];
    } else {
      Forward(v_target_mlp, next_obs, w.v_next, bf);
      const float* vn = w.v_next.out.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) next_value[i] = vn[i];
    }
    const float c = static_cast<float>(reward_scale), g = static_cast<float>(gamma);
    for (int64_t i = 0; i < n; ++i) {
      // 1 - terminated: truncated transitions keep bootstrapping (the flag is not read).
      const float not_done = 1.0f - static_cast<float>(b.terminated[i]);
      q_hat[i] = c * b.reward[i] + g * not_done * next_value[i];
    }
  }

  // One policy sample at s (noise block 0 in v1, 1 in v2), reused by J_V's
  // target (v1), J_pi and J(alpha).
  Forward(policy_mlp, obs, w.policy, bf);
  const double log_std_sum =
      kernels::SquashForward(squash, n, w.policy.out.data_ptr<float>(), noise + (v2 ? n * a : 0),
                             w.xq_fresh.data_ptr<float>() + o, o + a, w.log_prob.data_ptr<float>(),
                             w.tanh_u.data_ptr<float>(), w.std_eps.data_ptr<float>());
  // (BackwardStacked needs a hidden layer; a network without one runs unstacked.)
  const bool stacked = options.tuning.stack_q_rows && q_mlp[0].size() >= 2;
  for (int c = 0; c < 2; ++c) {
    if (stacked) {
      Forward(q_mlp[c], w.xq_both, w.q_both[c], bf);
    } else {
      Forward(q_mlp[c], w.xq_fresh, w.q_fresh[c], bf);
      Forward(q_mlp[c], w.xq_data, w.q_data[c], bf);
    }
  }
  if (!v2) Forward(v_mlp, obs, w.v, bf);

  // Losses, their gradients at the networks' outputs, and the metrics.
  const float* lp = w.log_prob.data_ptr<float>();
  const float* qd[2] = {w.q_data[0].out.data_ptr<float>(), w.q_data[1].out.data_ptr<float>()};
  const float* qf[2] = {w.q_fresh[0].out.data_ptr<float>(), w.q_fresh[1].out.data_ptr<float>()};
  float* gqd[2] = {w.q_data[0].gout.data_ptr<float>(), w.q_data[1].gout.data_ptr<float>()};
  float* gqf[2] = {w.q_fresh[0].gout.data_ptr<float>(), w.q_fresh[1].gout.data_ptr<float>()};
  const float* vv = v2 ? nullptr : w.v.out.data_ptr<float>();
  float* gv = v2 ? nullptr : w.v.gout.data_ptr<float>();
  const float inv_n = 1.0f / static_cast<float>(n);
  w.active[0].clear();
  w.active[1].clear();
  double jq[2] = {0, 0}, jpi = 0, jv = 0, lp_sum = 0, qd_sum[2] = {0, 0}, v_sum = 0, q_hat_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int c = 0; c < 2; ++c) {
      // J_Q = mean 1/2 (Q - Q-hat)^2.
      const float diff = qd[c][i] - q_hat[i];
      jq[c] += 0.5 * static_cast<double>(diff) * diff;
      gqd[c][i] = diff * inv_n;
      qd_sum[c] += qd[c][i];
    }
    // min of the twins at the fresh action; its gradient goes to the smaller
    // one (split in half on a tie, as torch.min's backward).
    const float min_q = std::min(qf[0][i], qf[1][i]);
    const float w0 = qf[0][i] < qf[1][i] ? 1.0f : qf[0][i] == qf[1][i] ? 0.5f : 0.0f;
    // J_pi = mean [alpha log pi - min Q]: dJ/dQ_c = -w_c / B.
    gqf[0][i] = -w0 * inv_n;
    gqf[1][i] = -(1.0f - w0) * inv_n;
    if (w0 > 0.0f) w.active[0].push_back(i);
    if (w0 < 1.0f) w.active[1].push_back(i);
    jpi += static_cast<double>(alpha) * lp[i] - min_q;
    lp_sum += lp[i];
    q_hat_sum += q_hat[i];
    if (!v2) {
      // J_V = mean 1/2 (V - [min Q - alpha log pi])^2 (the target detached).
      const float dv = vv[i] - (min_q - alpha * lp[i]);
      jv += 0.5 * static_cast<double>(dv) * dv;
      gv[i] = dv * inv_n;
      v_sum += vv[i];
    }
  }

  // Backward: each loss into its own network's gradient.
  if (stacked) std::fill_n(w.grad_action.data_ptr<float>(), n * a, 0.0f);
  for (int c = 0; c < 2; ++c) {
    if (stacked) {
      BackwardStacked(q_mlp[c], w.xq_both, w.q_both[c], n, w.active[c], w.packed_action,
                      w.grad_action, o, bf);
      continue;
    }
    Backward(q_mlp[c], w.xq_data, w.q_data[c], /*weights=*/true, nullptr, 0, false, bf);
    // J_pi through the fresh action, the Q weights held constant.
    Backward(q_mlp[c], w.xq_fresh, w.q_fresh[c], /*weights=*/false, &w.grad_action, o,
             /*accumulate=*/c == 1, bf);
  }
  kernels::SquashBackward(squash, n, w.policy.out.data_ptr<float>(), w.tanh_u.data_ptr<float>(),
                          w.std_eps.data_ptr<float>(), w.grad_action.data_ptr<float>(),
                          alpha * inv_n, w.policy.gout.data_ptr<float>());
  Backward(policy_mlp, obs, w.policy, /*weights=*/true, nullptr, 0, false, bf);
  double j_alpha = kNaN;
  if (learn_alpha) {
    // J(alpha) = mean[-log_alpha (log pi + H-bar)]: d/d log_alpha = -mean(log pi + H-bar).
    const double mean_term = lp_sum / n + target_entropy;
    const float la = log_alpha.data_ptr<float>()[0];
    j_alpha = -static_cast<double>(la) * mean_term;
    grads.back().data_ptr<float>()[0] = static_cast<float>(-mean_term);
  }
  if (!v2) Backward(v_mlp, obs, w.v, /*weights=*/true, nullptr, 0, false, bf);

  OptimizerStep();
  ++updates;

  UpdateMetrics out;
  out.q1_loss = jq[0] / n;
  out.q2_loss = jq[1] / n;
  out.v_loss = v2 ? kNaN : jv / n;
  out.policy_loss = jpi / n;
  out.temperature_loss = j_alpha;
  out.temperature = alpha;
  out.entropy = -lp_sum / n;
  out.mean_log_prob = lp_sum / n;
  out.q1_mean = qd_sum[0] / n;
  out.q2_mean = qd_sum[1] / n;
  out.v_mean = v2 ? kNaN : v_sum / n;
  out.q_target_mean = q_hat_sum / n;
  out.log_std_mean = log_std_sum / (n * a);
  out.updates = updates;
  return out;
}

}  // namespace sac::learner

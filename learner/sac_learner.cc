// The one LibTorch translation unit of the learner core: networks, the v1/v2
// updates, Adam, Polyak averaging, checkpoints and the policy forward.
#include "learner/sac_learner.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/policy_metadata.h"
#include "common/safetensors.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "learner/checkpoint_file.h"
#include "learner/file_io.h"
#include "learner/sac_kernels.h"

namespace sac::learner {
namespace {

using torch::Tensor;

constexpr char kCheckpointFormat[] = "sac-cluster-learner-checkpoint/1";
constexpr double kAdamBeta1 = 0.9;
constexpr double kAdamBeta2 = 0.999;
constexpr double kAdamEps = 1e-8;
constexpr double kHalfLog2Pi = 0.91893853320467274178;  // 0.5 * log(2 pi)
constexpr double kLog2 = 0.69314718055994530942;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Runs `body`, turning LibTorch's exceptions into a Status at our boundary.
template <typename F>
auto Guarded(absl::string_view what, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(what, ": LibTorch error: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

// An MLP's parameters in torch.nn.Linear layout: weight[i] [out, in], bias[i]
// [out]. A twin network (two Q-functions evaluated together) stacks both along
// a leading dimension of 2: weight[i] [2, out, in], bias[i] [2, out].
struct Net {
  std::string name;  // "policy", "q", "q_target", "v", "v_target"
  bool twin = false;
  std::vector<Tensor> weight;
  std::vector<Tensor> bias;

  std::vector<Tensor> Params() const {
    std::vector<Tensor> out;
    for (size_t i = 0; i < weight.size(); ++i) {
      out.push_back(weight[i]);
      out.push_back(bias[i]);
    }
    return out;
  }
  // Internal (checkpoint) names, parallel to Params(). The policy's last layer
  // is "head": rows [0, A) the mean, rows [A, 2A) the log-std.
  std::vector<std::string> ParamNames() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < weight.size(); ++i) {
      const std::string layer = (name == "policy" && i + 1 == weight.size())
                                    ? std::string("head")
                                    : absl::StrCat("fc", i);
      out.push_back(absl::StrCat(name, ".", layer, ".weight"));
      out.push_back(absl::StrCat(name, ".", layer, ".bias"));
    }
    return out;
  }
};

// Sizes of an MLP from in_dim through hidden to out_dim.
Net MakeNet(const std::string& name, bool twin, int64_t in_dim, const std::vector<int64_t>& hidden,
            int64_t out_dim, torch::Generator& gen) {
  Net net;
  net.name = name;
  net.twin = twin;
  std::vector<int64_t> sizes = {in_dim};
  sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(out_dim);
  const int copies = twin ? 2 : 1;
  std::vector<std::vector<Tensor>> w(copies), b(copies);
  // Each copy is initialized in full before the next, layer by layer, as
  // torch.nn.Linear does (weights then bias, both U(-1/sqrt(in), 1/sqrt(in))).
  for (int c = 0; c < copies; ++c) {
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[i]));
      w[c].push_back(torch::empty({sizes[i + 1], sizes[i]}).uniform_(-bound, bound, gen));
      b[c].push_back(torch::empty({sizes[i + 1]}).uniform_(-bound, bound, gen));
    }
  }
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    if (twin) {
      net.weight.push_back(torch::stack({w[0][i], w[1][i]}));
      net.bias.push_back(torch::stack({b[0][i], b[1][i]}));
    } else {
      net.weight.push_back(w[0][i]);
      net.bias.push_back(b[0][i]);
    }
  }
  return net;
}

Net CloneNet(const Net& src, const std::string& name) {
  Net net = src;
  net.name = name;
  for (auto& t : net.weight) t = t.detach().clone();
  for (auto& t : net.bias) t = t.detach().clone();
  return net;
}

// A plain MLP, ReLU between layers, none after the last. `detach`: use the
// weights as constants (gradients reach the input only).
Tensor MlpForward(const Net& net, Tensor x, bool detach = false) {
  const size_t layers = net.weight.size();
  for (size_t i = 0; i < layers; ++i) {
    const Tensor w = detach ? net.weight[i].detach() : net.weight[i];
    const Tensor b = detach ? net.bias[i].detach() : net.bias[i];
    x = torch::addmm(b, x, w.t());
    if (i + 1 < layers) x = torch::relu_(x);
  }
  return x;
}

// Both Q-functions of a twin network on the same input x [B, in]: [2, B, out].
// Fused (default): the first layer of both is one product with the stacked
// weights seen as [2H, in] (one read of x, one weight-gradient product); the
// deeper layers run per network on column slices of that output (no copies).
// Unfused: each network on its own, as a plain implementation does.
Tensor TwinForward(const Net& net, const Tensor& x, bool detach = false, bool fused = true) {
  const size_t layers = net.weight.size();
  auto weight = [&](size_t i) { return detach ? net.weight[i].detach() : net.weight[i]; };
  auto bias = [&](size_t i) { return detach ? net.bias[i].detach() : net.bias[i]; };
  std::vector<Tensor> outs(2);
  size_t first = 0;
  if (fused) {
    const Tensor w0 = weight(0);  // [2, H, in], contiguous
    const int64_t h0 = w0.size(1);
    Tensor both = torch::addmm(bias(0).reshape({2 * h0}), x, w0.reshape({2 * h0, w0.size(2)}).t());
    if (layers > 1) both = torch::relu_(both);
    outs[0] = both.narrow(1, 0, h0);
    outs[1] = both.narrow(1, h0, h0);
    first = 1;
  } else {
    outs[0] = outs[1] = x;
  }
  for (int64_t c = 0; c < 2; ++c) {
    Tensor h = outs[c];
    for (size_t i = first; i < layers; ++i) {
      h = torch::addmm(bias(i)[c], h, weight(i)[c].t());
      if (i + 1 < layers) h = torch::relu_(h);
    }
    outs[c] = h;
  }
  return torch::stack(outs);
}

struct Squashed {
  Tensor action;    // [B, A], env units
  Tensor log_prob;  // [B]
};

// The tanh-squashed Gaussian (paper appendix C): u = mean + std * eps,
// a = tanh(u) * scale + bias, log pi(a|s) = sum_j [log N(u_j; mean_j, std_j) -
// log(scale_j (1 - tanh(u_j)^2))] with log(1 - tanh(u)^2) = 2 (log 2 - u -
// softplus(-2u)) (exact, and finite for every u).
Squashed SquashSample(const Tensor& mean, const Tensor& log_std, const Tensor& eps,
                      const Tensor& scale, const Tensor& bias, double log_scale_sum) {
  const Tensor u = mean + log_std.exp() * eps;
  Squashed out;
  out.action = torch::addcmul(bias, torch::tanh(u), scale);
  const Tensor gaussian = (-0.5 * eps.square() - log_std).sum(1) - kHalfLog2Pi * eps.size(1);
  const Tensor log_det = (2.0 * (kLog2 - u - torch::softplus(-2.0 * u))).sum(1);
  out.log_prob = gaussian - log_det - log_scale_sum;
  return out;
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& spec) {
  if (spec != "cpu" && spec != "cuda" && !absl::StartsWith(spec, "cuda:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", spec, "': expected cpu, cuda or cuda:<index>"));
  }
  int index = 0;
  if (absl::StartsWith(spec, "cuda:") && !absl::SimpleAtoi(spec.substr(5), &index)) {
    return absl::InvalidArgumentError(absl::StrCat("device '", spec, "': bad CUDA index"));
  }
  if (spec == "cpu") return torch::Device(torch::kCPU);
  const int64_t count = torch::cuda::device_count();
  if (count == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("device '", spec,
                     "' requested but no CUDA device is available here "
                     "(LibTorch sees 0 CUDA devices); use --device=cpu"));
  }
  if (index < 0 || index >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("device '", spec, "' requested but only ", count, " CUDA device(s) exist"));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

CheckpointArray ToArray(const Tensor& t) {
  CheckpointArray a;
  const Tensor c = t.detach().to(torch::kCPU).contiguous();
  if (c.scalar_type() == torch::kFloat) {
    a.dtype = ArrayDtype::kFloat32;
  } else if (c.scalar_type() == torch::kByte) {
    a.dtype = ArrayDtype::kUint8;
  } else {
    a.dtype = ArrayDtype::kInt64;
  }
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  a.bytes.assign(static_cast<const char*>(c.data_ptr()), c.nbytes());
  return a;
}

NamedArray ToNamed(const std::string& name, const Tensor& t) {
  const Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  NamedArray out;
  out.name = name;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

}  // namespace

// One layer of an MLP as the hand-written update sees it: views into the flat
// parameter buffer and, for trained networks, into the flat gradient buffer.
struct Layer {
  Tensor w, b;    // [out, in], [out]
  Tensor gw, gb;  // gradients (undefined for target networks)
};
using Mlp = std::vector<Layer>;

// One MLP evaluation's buffers in the hand-written update, allocated once per
// batch size: hidden outputs (after ReLU), the gradients at the hidden layers'
// pre-activations, the output and its gradient.
struct Trace {
  std::vector<Tensor> h, gh;
  Tensor out, gout;
};

struct SacLearner::Impl {
  v1::SacConfig config;
  LearnerOptions options;
  torch::Device device = torch::kCPU;
  bool v2 = false;
  bool manual = true;  // the hand-written update (CPU); false: LibTorch autograd
  std::vector<int64_t> hidden;
  double reward_scale = 1;
  double target_entropy = 0;
  double log_scale_sum = 0;
  Tensor action_scale;  // [A] on device
  Tensor action_bias;   // [A] on device

  Net policy, q, q_target, v, v_target;  // v, v_target: v1 only; q_target: v2 only
  Tensor log_alpha;                      // [] on device; learned in v2

  // Every trained tensor (policy, q, v in v1, log_alpha in v2, in this order)
  // is a view into flat_params; its gradient and Adam moments are views at the
  // same offsets of flat_grads, flat_exp_avg, flat_exp_avg_sq, so that Adam is
  // one fused kernel over one tensor. The target network is a view into
  // flat_targets, aligned with the source's segment of flat_params, so that
  // Polyak averaging is one lerp_.
  Tensor flat_params, flat_grads, flat_exp_avg, flat_exp_avg_sq, flat_targets;
  int64_t source_offset = 0, source_numel = 0;
  Tensor step;  // float [] on device: Adam's step count (the same for every tensor)
  // Per-tensor views (parallel), internal names.
  std::vector<Tensor> params, grads, exp_avg, exp_avg_sq;
  std::vector<std::string> param_names;
  std::vector<Tensor> targets;
  std::vector<std::string> target_names;

  // The hand-written update's view of the networks and its buffers.
  Mlp policy_mlp, q_mlp[2], q_target_mlp[2], v_mlp, v_target_mlp;
  kernels::SquashParams squash;
  std::vector<float> scale_host, bias_host;
  struct Work {
    int64_t batch = 0;
    Trace policy, policy_next, q_next[2], v, v_next;
    // Q at the batch's actions (rows [0, B)) and at the fresh actions (rows
    // [B, 2B)) share buffers, so that both can run as one product per layer.
    Trace q_both[2], q_data[2], q_fresh[2];
    Tensor xq_both;                     // [2B, obs + act]
    Tensor xq_data, xq_fresh, xq_next;  // [B, obs + act] (the first two: rows of xq_both)
    Tensor grad_action;                 // [B, A]: dL/d fresh action (J_pi through the Qs)
    Tensor packed_action;               // [B, A] scratch
    std::vector<int64_t> active[2];     // fresh rows where Q_c is the min (gets J_pi's gradient)
    Tensor log_prob, log_prob_next, tanh_u, std_eps, q_hat;
  } work;

  torch::Generator train_gen;  // policy noise of updates (CPU)
  torch::Generator eval_gen;   // policy noise of PolicyForward (CPU)
  uint64_t updates = 0;

  absl::Status Init();
  Tensor ToDevice(const void* data, int64_t rows, int64_t cols, torch::ScalarType type) const;
  std::pair<Tensor, Tensor> PolicyHead(const Tensor& obs) const;
  UpdateMetrics Step(const HostBatch& batch, const Tensor& noise);
  UpdateMetrics ManualStep(const HostBatch& batch, const float* noise);
  void PrepareWork(int64_t batch);
  // Adam on every trained tensor (gradients in flat_grads), then Polyak.
  void OptimizerStep();
  // Every state tensor by internal name (checkpoint contents).
  std::vector<std::pair<std::string, Tensor>> StateTensors() const;
};

namespace {

// Replaces every tensor of `nets` (and `extra`, when given) by a view into one
// new flat buffer on `device` holding their values, in Params() order.
Tensor Flatten(const std::vector<Net*>& nets, Tensor* extra, torch::Device device) {
  int64_t total = 0;
  for (const Net* net : nets) {
    for (const Tensor& t : net->Params()) total += t.numel();
  }
  if (extra != nullptr) total += extra->numel();
  Tensor flat = torch::empty({total}, torch::TensorOptions().dtype(torch::kFloat).device(device));
  int64_t offset = 0;
  auto place = [&](Tensor& t) {
    Tensor view = flat.narrow(0, offset, t.numel()).view(t.sizes());
    view.copy_(t);
    offset += t.numel();
    t = view;
  };
  for (Net* net : nets) {
    for (size_t i = 0; i < net->weight.size(); ++i) {
      place(net->weight[i]);
      place(net->bias[i]);
    }
  }
  if (extra != nullptr) place(*extra);
  return flat;
}

// Views of `flat` with the shapes of `like` (Params() order, then `extra`).
std::vector<Tensor> ViewsLike(const Tensor& flat, const std::vector<Tensor>& like) {
  std::vector<Tensor> out;
  int64_t offset = 0;
  for (const Tensor& t : like) {
    out.push_back(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
  return out;
}

// The layers of `net` (copy `c` of a twin), with gradient views from `grads`
// (parallel to net.Params(); empty for targets).
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

Trace MakeTrace(const Mlp& m, int64_t rows) {
  Trace t;
  const auto opts = m[0].w.options();
  for (size_t i = 0; i + 1 < m.size(); ++i) {
    t.h.push_back(torch::empty({rows, m[i].w.size(0)}, opts));
    t.gh.push_back(torch::empty({rows, m[i].w.size(0)}, opts));
  }
  t.out = torch::empty({rows, m.back().w.size(0)}, opts);
  t.gout = torch::empty({rows, m.back().w.size(0)}, opts);
  return t;
}

// Rows [start, start + rows) of every buffer of t (views).
Trace TraceRows(const Trace& t, int64_t start, int64_t rows) {
  Trace out;
  for (const Tensor& h : t.h) out.h.push_back(h.narrow(0, start, rows));
  for (const Tensor& g : t.gh) out.gh.push_back(g.narrow(0, start, rows));
  out.out = t.out.narrow(0, start, rows);
  out.gout = t.gout.narrow(0, start, rows);
  return out;
}

// Forward pass into t's buffers: h_{l+1} = relu(h_l W_l^T + b_l), none after the last
// (the product with beta = 0, then bias and ReLU in one pass).
void Forward(const Mlp& m, const Tensor& x, Trace& t) {
  Tensor in = x;
  for (size_t l = 0; l < m.size(); ++l) {
    Tensor& out = l + 1 < m.size() ? t.h[l] : t.out;
    at::mm_out(out, in, m[l].w.t());
    kernels::AddBias(out.size(0), out.size(1), m[l].b.data_ptr<float>(), l + 1 < m.size(),
                     out.data_ptr<float>());
    in = out;
  }
}

// Backward pass from t.gout (dL/d output, filled by the caller). With
// `weights`, every layer's weight and bias gradient is written (overwritten)
// into the layer's gradient views. With `input_grad`, dL/d x[:, from:] is
// written (accumulate: added) there: the gradient to the action columns of a
// Q-function's input.
void Backward(const Mlp& m, const Tensor& x, Trace& t, bool weights, Tensor* input_grad,
              int64_t from, bool accumulate) {
  const size_t layers = m.size();
  const int64_t rows = x.size(0);
  Tensor g = t.gout;
  for (size_t l = layers; l-- > 0;) {
    const Tensor& in = l == 0 ? x : t.h[l - 1];
    if (l > 0 && l + 1 == layers && g.size(1) == 1) {
      // Width-1 output: one pass gives its weight and bias gradient and the
      // masked gradient of the layer below, with that layer's bias gradient.
      kernels::ScalarHeadBackward(rows, in.size(1), g.data_ptr<float>(), m[l].w.data_ptr<float>(),
                                  in.data_ptr<float>(), weights ? m[l].gw.data_ptr<float>() : nullptr,
                                  weights ? m[l].gb.data_ptr<float>() : nullptr,
                                  t.gh[l - 1].data_ptr<float>(),
                                  weights ? m[l - 1].gb.data_ptr<float>() : nullptr);
      g = t.gh[l - 1];
      continue;
    }
    if (weights) {
      Tensor gw = m[l].gw;  // a view: the product lands in flat_grads
      at::mm_out(gw, g.t(), in);
      if (l + 1 == layers) {
        kernels::ColumnSum(rows, g.size(1), g.data_ptr<float>(), g.size(1), m[l].gb.data_ptr<float>());
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
                     const std::vector<int64_t>& active, Tensor& packed_action,
                     Tensor& grad_action, int64_t from) {
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
    kernels::ScalarHeadBackwardRows(k, cols, rows, gout + n, m[l].w.data_ptr<float>(),
                                    h + n * cols, gh + n * cols);
  }
  Tensor g = t.gh[layers - 2].narrow(0, 0, n + k);
  for (size_t l = layers - 1; l-- > 0;) {
    const Tensor& in = l == 0 ? x : t.h[l - 1];
    const int64_t cols = in.size(1);
    Tensor gw = m[l].gw;
    at::mm_out(gw, g.narrow(0, 0, n).t(), in.narrow(0, 0, n));
    if (l > 0) {
      Tensor gin = t.gh[l - 1].narrow(0, 0, n + k);
      at::mm_out(gin, g, m[l].w);
      const float* h = in.data_ptr<float>();
      float* gp = gin.data_ptr<float>();
      kernels::ReluBackward(n, cols, h, cols, gp, cols, m[l - 1].gb.data_ptr<float>());
      kernels::ReluBackwardRows(k, cols, rows, h + n * cols, gp + n * cols);
      g = gin;
    } else {
      Tensor packed = packed_action.narrow(0, 0, k);
      at::mm_out(packed, g.narrow(0, n, k), m[0].w.narrow(1, from, m[0].w.size(1) - from));
      kernels::ScatterAddRows(k, packed.size(1), rows, packed.data_ptr<float>(),
                              grad_action.data_ptr<float>());
    }
  }
}

}  // namespace

absl::Status SacLearner::Impl::Init() {
  const int64_t obs_dim = options.obs_dim, act_dim = options.act_dim;
  train_gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  eval_gen = at::make_generator<at::CPUGeneratorImpl>(options.seed ^ 0x9E3779B97F4A7C15ull);
  torch::NoGradGuard no_grad;
  // Initialization order (fixed: the Python reference relies on it only through
  // the weights we hand it): policy, q1, q2, then v (v1).
  policy = MakeNet("policy", false, obs_dim, hidden, 2 * act_dim, train_gen);
  q = MakeNet("q", true, obs_dim + act_dim, hidden, 1, train_gen);
  if (v2) {
    q_target = CloneNet(q, "q_target");
  } else {
    v = MakeNet("v", false, obs_dim, hidden, 1, train_gen);
    v_target = CloneNet(v, "v_target");
  }
  log_alpha = torch::full({}, std::log(config.initial_temperature()), torch::kFloat);

  auto to_device = [&](Net& net) {
    for (auto& t : net.weight) t = t.to(device);
    for (auto& t : net.bias) t = t.to(device);
  };
  for (Net* net : {&policy, &q, &q_target, &v, &v_target}) to_device(*net);
  log_alpha = log_alpha.to(device);

  // Flat buffers (see Impl): trained tensors, then the target network.
  std::vector<Net*> trainable = {&policy, &q};
  if (!v2) trainable.push_back(&v);
  const int64_t source_start = policy.Params().size();  // index of the source's first tensor
  flat_params = Flatten(trainable, v2 ? &log_alpha : nullptr, device);
  for (const Net* net : trainable) {
    for (const Tensor& p : net->Params()) params.push_back(p);
    for (const std::string& n : net->ParamNames()) param_names.push_back(n);
  }
  if (v2) {
    params.push_back(log_alpha);
    param_names.push_back("log_alpha");
  }
  flat_grads = torch::zeros_like(flat_params);
  flat_exp_avg = torch::zeros_like(flat_params);
  flat_exp_avg_sq = torch::zeros_like(flat_params);
  grads = ViewsLike(flat_grads, params);
  exp_avg = ViewsLike(flat_exp_avg, params);
  exp_avg_sq = ViewsLike(flat_exp_avg_sq, params);
  step = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(device));
  Net& target = v2 ? q_target : v_target;
  // The source network's segment of flat_params (its first tensor's offset).
  source_offset = (v2 ? q : v).weight[0].storage_offset();
  flat_targets = Flatten({&target}, nullptr, device);
  source_numel = flat_targets.numel();
  targets = target.Params();
  target_names = target.ParamNames();
  if (!manual) {
    for (Tensor& p : params) p.set_requires_grad(true);
  } else {
    const std::vector<Tensor> policy_grads(grads.begin(), grads.begin() + source_start);
    const size_t q_count = q.Params().size();
    const std::vector<Tensor> q_grads(grads.begin() + source_start,
                                      grads.begin() + source_start + q_count);
    policy_mlp = MakeMlp(policy, 0, policy_grads);
    for (int c = 0; c < 2; ++c) {
      q_mlp[c] = MakeMlp(q, c, q_grads);
      if (v2) q_target_mlp[c] = MakeMlp(q_target, c, {});
    }
    if (!v2) {
      const std::vector<Tensor> v_grads(grads.begin() + source_start + q_count,
                                        grads.begin() + source_start + q_count + v.Params().size());
      v_mlp = MakeMlp(v, 0, v_grads);
      v_target_mlp = MakeMlp(v_target, 0, {});
    }
  }

  std::vector<float> scale(act_dim), bias(act_dim);
  log_scale_sum = 0;
  for (int64_t j = 0; j < act_dim; ++j) {
    scale[j] = (options.action_high[j] - options.action_low[j]) / 2.0f;
    bias[j] = (options.action_high[j] + options.action_low[j]) / 2.0f;
    log_scale_sum += std::log(static_cast<double>(scale[j]));
  }
  action_scale = torch::tensor(scale).to(device);
  action_bias = torch::tensor(bias).to(device);
  scale_host = scale;
  bias_host = bias;
  squash.act_dim = act_dim;
  squash.scale = scale_host.data();
  squash.bias = bias_host.data();
  squash.log_std_min = static_cast<float>(config.log_std_min());
  squash.log_std_max = static_cast<float>(config.log_std_max());
  squash.log_scale_sum = log_scale_sum;
  return absl::OkStatus();
}

Tensor SacLearner::Impl::ToDevice(const void* data, int64_t rows, int64_t cols,
                                  torch::ScalarType type) const {
  std::vector<int64_t> shape = {rows};
  if (cols > 0) shape.push_back(cols);
  // from_blob borrows the caller's memory; it is only read (copied when moved
  // to another device or dtype).
  Tensor t = torch::from_blob(const_cast<void*>(data), shape, torch::TensorOptions().dtype(type));
  if (device.is_cpu()) return t;
  return t.to(device, /*non_blocking=*/false, /*copy=*/true);
}

std::pair<Tensor, Tensor> SacLearner::Impl::PolicyHead(const Tensor& obs) const {
  const Tensor head = MlpForward(policy, obs);
  const int64_t a = options.act_dim;
  Tensor mean = head.narrow(1, 0, a);
  Tensor log_std = head.narrow(1, a, a).clamp(config.log_std_min(), config.log_std_max());
  return {mean, log_std};
}

UpdateMetrics SacLearner::Impl::Step(const HostBatch& b, const Tensor& noise) {
  const int64_t n = b.batch_size;
  const Tensor obs = ToDevice(b.obs, n, options.obs_dim, torch::kFloat);
  const Tensor act = ToDevice(b.action, n, options.act_dim, torch::kFloat);
  const Tensor rew = ToDevice(b.reward, n, 0, torch::kFloat);
  const Tensor next_obs = ToDevice(b.next_obs, n, options.obs_dim, torch::kFloat);
  // 1 - terminated: truncated transitions keep bootstrapping (the flag is not read).
  const Tensor not_done = 1.0 - ToDevice(b.terminated, n, 0, torch::kByte).to(torch::kFloat);
  const double gamma = config.gamma();
  const bool fuse = options.tuning.fuse_twin_q;

  for (Tensor& p : params) p.mutable_grad() = Tensor();

  // alpha as used by this update (pre-update value), a constant of the graph.
  const Tensor alpha =
      v2 ? log_alpha.detach().exp() : torch::full({}, config.initial_temperature(), obs.options());

  // Bellman target Q-hat (eq. 8 for v1; the target-Q form for v2), no gradient.
  Tensor q_hat;
  {
    std::optional<torch::NoGradGuard> no_grad;
    if (options.tuning.no_grad_targets) no_grad.emplace();
    Tensor next_value;
    if (v2) {
      auto [mean, log_std] = PolicyHead(next_obs);
      const Squashed next =
          SquashSample(mean, log_std, noise[0], action_scale, action_bias, log_scale_sum);
      const Tensor q_next =
          TwinForward(q_target, torch::cat({next_obs, next.action}, 1), false, fuse);
      next_value = torch::min(q_next[0], q_next[1]).squeeze(-1) - alpha * next.log_prob;
    } else {
      next_value = MlpForward(v_target, next_obs).squeeze(-1);
    }
    q_hat = (reward_scale * rew + gamma * not_done * next_value).detach();
  }

  // One policy forward at s, reused by J_V's target (v1), J_pi and J(alpha).
  auto [mean, log_std] = PolicyHead(obs);
  const Squashed fresh =
      SquashSample(mean, log_std, noise[v2 ? 1 : 0], action_scale, action_bias, log_scale_sum);
  // Q at the fresh actions with the Q weights as constants: the gradient
  // reaches the policy through the actions only (eq. 13).
  const Tensor q_fresh = TwinForward(q, torch::cat({obs, fresh.action}, 1), /*detach=*/true, fuse);
  const Tensor min_q_fresh = torch::min(q_fresh[0], q_fresh[1]).squeeze(-1);

  // J_Q (eq. 7) of both Q-functions at the batch's actions.
  const Tensor q_data =
      TwinForward(q, torch::cat({obs, act}, 1), false, fuse).squeeze(-1);   // [2, B]
  const Tensor j_q = 0.5 * (q_data - q_hat.unsqueeze(0)).square().mean(1);  // [2]
  // J_pi (eq. 12), with min of the twins.
  const Tensor j_pi = (alpha * fresh.log_prob - min_q_fresh).mean();
  Tensor total = j_q.sum() + j_pi;

  Tensor j_v, v_value, j_alpha;
  if (!v2) {
    // J_V (eq. 5): V(s) toward min Q(s, a~pi) - alpha log pi(a|s).
    v_value = MlpForward(v, obs).squeeze(-1);
    const Tensor v_goal = (min_q_fresh - alpha * fresh.log_prob).detach();
    j_v = 0.5 * (v_value - v_goal).square().mean();
    total = total + j_v;
  } else {
    // J(alpha) = E[-log_alpha (log pi(a|s) + target_entropy)].
    j_alpha = -(log_alpha * (fresh.log_prob.detach() + target_entropy)).mean();
    total = total + j_alpha;
  }
  // The losses touch disjoint parameters, so one backward pass of their sum
  // gives each network exactly its own loss's gradient.
  total.backward();

  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) grads[i].copy_(params[i].grad());
  }
  OptimizerStep();
  ++updates;

  const Tensor nan = torch::full({}, kNaN, obs.options());
  const Tensor all =
      torch::stack({j_q[0], j_q[1], v2 ? nan : j_v, j_pi, v2 ? j_alpha : nan, alpha,
                    -fresh.log_prob.mean(), fresh.log_prob.mean(), q_data[0].mean(),
                    q_data[1].mean(), v2 ? nan : v_value.mean(), q_hat.mean(), log_std.mean()})
          .detach()
          .to(torch::kCPU, torch::kDouble);
  const double* m = all.data_ptr<double>();
  UpdateMetrics out;
  out.q1_loss = m[0];
  out.q2_loss = m[1];
  out.v_loss = m[2];
  out.policy_loss = m[3];
  out.temperature_loss = m[4];
  out.temperature = m[5];
  out.entropy = m[6];
  out.mean_log_prob = m[7];
  out.q1_mean = m[8];
  out.q2_mean = m[9];
  out.v_mean = m[10];
  out.q_target_mean = m[11];
  out.log_std_mean = m[12];
  out.updates = updates;
  return out;
}

void SacLearner::Impl::PrepareWork(int64_t n) {
  if (work.batch == n) return;
  const auto opts = flat_params.options();
  const int64_t o = options.obs_dim, a = options.act_dim;
  Work w;
  w.batch = n;
  w.policy = MakeTrace(policy_mlp, n);
  w.xq_both = torch::empty({2 * n, o + a}, opts);
  w.xq_data = w.xq_both.narrow(0, 0, n);
  w.xq_fresh = w.xq_both.narrow(0, n, n);
  for (int c = 0; c < 2; ++c) {
    w.q_both[c] = MakeTrace(q_mlp[c], 2 * n);
    w.q_data[c] = TraceRows(w.q_both[c], 0, n);
    w.q_fresh[c] = TraceRows(w.q_both[c], n, n);
  }
  if (v2) {
    w.policy_next = MakeTrace(policy_mlp, n);
    for (int c = 0; c < 2; ++c) w.q_next[c] = MakeTrace(q_target_mlp[c], n);
    w.xq_next = torch::empty({n, o + a}, opts);
    w.log_prob_next = torch::empty({n}, opts);
  } else {
    w.v = MakeTrace(v_mlp, n);
    w.v_next = MakeTrace(v_target_mlp, n);
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
  const float alpha = v2 ? std::exp(log_alpha.data_ptr<float>()[0])
                         : static_cast<float>(config.initial_temperature());
  auto wrap = [](const float* data, int64_t rows, int64_t cols) {
    return torch::from_blob(const_cast<float*>(data), {rows, cols}, torch::kFloat);
  };
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
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * (o + a), b.action + i * a, sizeof(float) * a);
  }

  // Bellman target Q-hat, no gradient.
  float* q_hat = w.q_hat.data_ptr<float>();
  {
    std::vector<float> next_value(n);
    if (v2) {
      Forward(policy_mlp, next_obs, w.policy_next);
      fill_obs(w.xq_next, b.next_obs);
      kernels::SquashForward(squash, n, w.policy_next.out.data_ptr<float>(), noise,
                             w.xq_next.data_ptr<float>() + o, o + a,
                             w.log_prob_next.data_ptr<float>(), nullptr, nullptr);
      for (int c = 0; c < 2; ++c) Forward(q_target_mlp[c], w.xq_next, w.q_next[c]);
      const float* q1 = w.q_next[0].out.data_ptr<float>();
      const float* q2 = w.q_next[1].out.data_ptr<float>();
      const float* lp = w.log_prob_next.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) next_value[i] = std::min(q1[i], q2[i]) - alpha * lp[i];
    } else {
      Forward(v_target_mlp, next_obs, w.v_next);
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
  Forward(policy_mlp, obs, w.policy);
  const double log_std_sum = kernels::SquashForward(
      squash, n, w.policy.out.data_ptr<float>(), noise + (v2 ? n * a : 0),
      w.xq_fresh.data_ptr<float>() + o, o + a, w.log_prob.data_ptr<float>(),
      w.tanh_u.data_ptr<float>(), w.std_eps.data_ptr<float>());
  // (BackwardStacked needs a hidden layer; a network without one runs unstacked.)
  const bool stacked = options.tuning.stack_q_rows && q_mlp[0].size() >= 2;
  for (int c = 0; c < 2; ++c) {
    if (stacked) {
      Forward(q_mlp[c], w.xq_both, w.q_both[c]);
    } else {
      Forward(q_mlp[c], w.xq_fresh, w.q_fresh[c]);
      Forward(q_mlp[c], w.xq_data, w.q_data[c]);
    }
  }
  if (!v2) Forward(v_mlp, obs, w.v);

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
                      w.grad_action, o);
      continue;
    }
    Backward(q_mlp[c], w.xq_data, w.q_data[c], /*weights=*/true, nullptr, 0, false);
    // J_pi through the fresh action, the Q weights held constant.
    Backward(q_mlp[c], w.xq_fresh, w.q_fresh[c], /*weights=*/false, &w.grad_action, o,
             /*accumulate=*/c == 1);
  }
  kernels::SquashBackward(squash, n, w.policy.out.data_ptr<float>(), w.tanh_u.data_ptr<float>(),
                          w.std_eps.data_ptr<float>(), w.grad_action.data_ptr<float>(),
                          alpha * inv_n, w.policy.gout.data_ptr<float>());
  Backward(policy_mlp, obs, w.policy, /*weights=*/true, nullptr, 0, false);
  double j_alpha = kNaN;
  if (v2) {
    // J(alpha) = mean[-log_alpha (log pi + H-bar)]: d/d log_alpha = -mean(log pi + H-bar).
    const double mean_term = lp_sum / n + target_entropy;
    const float la = log_alpha.data_ptr<float>()[0];
    j_alpha = -static_cast<double>(la) * mean_term;
    grads.back().data_ptr<float>()[0] = static_cast<float>(-mean_term);
  } else {
    Backward(v_mlp, obs, w.v, /*weights=*/true, nullptr, 0, false);
  }

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

void SacLearner::Impl::OptimizerStep() {
  torch::NoGradGuard no_grad;
  // The fused kernel reads the step count; it does not advance it.
  step.add_(1.0);
  if (options.tuning.fused_adam) {
    at::_fused_adam_({flat_params}, {flat_grads}, {flat_exp_avg}, {flat_exp_avg_sq},
                     /*max_exp_avg_sqs=*/{}, {step}, config.learning_rate(), kAdamBeta1,
                     kAdamBeta2, /*weight_decay=*/0.0, kAdamEps, /*amsgrad=*/false,
                     /*maximize=*/false);
  } else {
    // Reference path: torch.optim.Adam's single-tensor update, one tensor at a time.
    const double t = step.item<double>();
    const double bc1 = 1.0 - std::pow(kAdamBeta1, t);
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(kAdamBeta2, t));
    for (size_t i = 0; i < params.size(); ++i) {
      exp_avg[i].lerp_(grads[i], 1.0 - kAdamBeta1);
      exp_avg_sq[i].mul_(kAdamBeta2).addcmul_(grads[i], grads[i], 1.0 - kAdamBeta2);
      const Tensor denom = (exp_avg_sq[i].sqrt() / bc2_sqrt).add_(kAdamEps);
      params[i].detach().addcdiv_(exp_avg[i], denom, -config.learning_rate() / bc1);
    }
  }
  // Polyak averaging every step: target <- target + tau (source - target).
  flat_targets.lerp_(flat_params.narrow(0, source_offset, source_numel), config.tau());
}

std::vector<std::pair<std::string, Tensor>> SacLearner::Impl::StateTensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params.size(); ++i) {
    out.emplace_back(param_names[i], params[i]);
    out.emplace_back(absl::StrCat("adam.exp_avg.", param_names[i]), exp_avg[i]);
    out.emplace_back(absl::StrCat("adam.exp_avg_sq.", param_names[i]), exp_avg_sq[i]);
    // One step count for all (every tensor is stepped every update); the file
    // keeps one entry per tensor, as torch.optim.Adam's state has.
    out.emplace_back(absl::StrCat("adam.step.", param_names[i]), step);
  }
  for (size_t i = 0; i < targets.size(); ++i) out.emplace_back(target_names[i], targets[i]);
  if (!v2) out.emplace_back("log_alpha", log_alpha);
  return out;
}

SacLearner::SacLearner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SacLearner::~SacLearner() = default;

absl::StatusOr<std::unique_ptr<SacLearner>> SacLearner::Create(const v1::SacConfig& config,
                                                               const LearnerOptions& options) {
  RETURN_IF_ERROR(Annotate(ValidateRanges(config), "sac config"));
  if (config.variant() != "v1" && config.variant() != "v2") {
    return absl::InvalidArgumentError(
        absl::StrCat("sac.variant '", config.variant(), "': expected v1 or v2"));
  }
  if (!(config.log_std_min() < config.log_std_max())) {
    return absl::InvalidArgumentError("sac.log_std_min must be below sac.log_std_max");
  }
  if (options.obs_dim <= 0 || options.act_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("obs_dim ", options.obs_dim, " and act_dim ",
                                                   options.act_dim, " must be positive"));
  }
  if (static_cast<int64_t>(options.action_low.size()) != options.act_dim ||
      static_cast<int64_t>(options.action_high.size()) != options.act_dim) {
    return absl::InvalidArgumentError("action_low and action_high must hold act_dim values");
  }
  for (int64_t j = 0; j < options.act_dim; ++j) {
    if (!std::isfinite(options.action_low[j]) || !std::isfinite(options.action_high[j]) ||
        !(options.action_low[j] < options.action_high[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat("action bounds of dimension ", j, " must be finite with low < high"));
    }
  }
  if (options.threads < 1) return absl::InvalidArgumentError("threads must be at least 1");
  return Guarded("SacLearner::Create", [&]() -> absl::StatusOr<std::unique_ptr<SacLearner>> {
    auto impl = std::make_unique<Impl>();
    ASSIGN_OR_RETURN(impl->device, ParseDevice(options.device));
    torch::set_num_threads(options.threads);
    impl->options = options;
    impl->config = config;
    impl->v2 = config.variant() == "v2";
    impl->manual = options.tuning.manual_backward && impl->device.is_cpu();
    if (impl->config.hidden_sizes_size() == 0) {
      impl->config.add_hidden_sizes(256);
      impl->config.add_hidden_sizes(256);
    }
    impl->hidden.assign(impl->config.hidden_sizes().begin(), impl->config.hidden_sizes().end());
    if (impl->config.reward_scale() == 0) {
      // The paper's appendix D: 5 for the v1 tasks, 20 for Humanoid; v2 learns
      // its temperature instead and uses the raw reward.
      impl->config.set_reward_scale(impl->v2                                      ? 1.0
                                    : absl::StartsWith(options.task, "Humanoid-") ? 20.0
                                                                                  : 5.0);
    }
    impl->reward_scale = impl->config.reward_scale();
    if (std::isnan(impl->config.target_entropy())) {
      impl->config.set_target_entropy(-static_cast<double>(options.act_dim));
    }
    impl->target_entropy = impl->config.target_entropy();
    RETURN_IF_ERROR(impl->Init());
    return std::unique_ptr<SacLearner>(new SacLearner(std::move(impl)));
  });
}

int SacLearner::NoiseDraws() const { return impl_->v2 ? 2 : 1; }

absl::StatusOr<UpdateMetrics> SacLearner::Update(const HostBatch& batch) {
  RETURN_IF_ERROR(ValidateHostBatch(batch, impl_->options.obs_dim, impl_->options.act_dim));
  return Guarded("SacLearner::Update", [&]() -> absl::StatusOr<UpdateMetrics> {
    Tensor noise = torch::randn({NoiseDraws(), batch.batch_size, impl_->options.act_dim},
                                impl_->train_gen, torch::kFloat);
    if (impl_->manual) return impl_->ManualStep(batch, noise.data_ptr<float>());
    if (!impl_->device.is_cpu()) noise = noise.to(impl_->device);
    return impl_->Step(batch, noise);
  });
}

absl::StatusOr<UpdateMetrics> SacLearner::UpdateWithNoise(const HostBatch& batch,
                                                          std::span<const float> noise) {
  RETURN_IF_ERROR(ValidateHostBatch(batch, impl_->options.obs_dim, impl_->options.act_dim));
  const int64_t expected = NoiseDraws() * batch.batch_size * impl_->options.act_dim;
  if (static_cast<int64_t>(noise.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise holds ", noise.size(), " values, expected ", expected));
  }
  return Guarded("SacLearner::UpdateWithNoise", [&]() -> absl::StatusOr<UpdateMetrics> {
    if (impl_->manual) return impl_->ManualStep(batch, noise.data());
    const Tensor t =
        torch::from_blob(const_cast<float*>(noise.data()),
                         {NoiseDraws(), batch.batch_size, impl_->options.act_dim}, torch::kFloat)
            .to(impl_->device, /*non_blocking=*/false, /*copy=*/true);
    return impl_->Step(batch, t);
  });
}

absl::Status SacLearner::PolicyForward(std::span<const float> obs, int64_t n, PolicyMode mode,
                                       std::span<const float> noise, std::span<float> actions,
                                       std::span<float> log_probs) {
  const int64_t o = impl_->options.obs_dim, a = impl_->options.act_dim;
  if (n <= 0 || static_cast<int64_t>(obs.size()) != n * o ||
      static_cast<int64_t>(actions.size()) != n * a) {
    return absl::InvalidArgumentError(
        absl::StrCat("PolicyForward: ", n, " rows need ", n * o, " observation and ", n * a,
                     " action values, got ", obs.size(), " and ", actions.size()));
  }
  if (!noise.empty() && static_cast<int64_t>(noise.size()) != n * a) {
    return absl::InvalidArgumentError("PolicyForward: noise must hold n * act_dim values");
  }
  if (!log_probs.empty() &&
      (mode != PolicyMode::kStochastic || static_cast<int64_t>(log_probs.size()) != n)) {
    return absl::InvalidArgumentError(
        "PolicyForward: log_probs needs stochastic mode and n values");
  }
  return Guarded("SacLearner::PolicyForward", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    const Tensor x = impl_->ToDevice(obs.data(), n, o, torch::kFloat);
    auto [mean, log_std] = impl_->PolicyHead(x);
    Tensor action, log_prob;
    if (mode == PolicyMode::kDeterministic) {
      action = torch::addcmul(impl_->action_bias, torch::tanh(mean), impl_->action_scale);
    } else {
      Tensor eps = noise.empty()
                       ? torch::randn({n, a}, impl_->eval_gen, torch::kFloat)
                       : torch::from_blob(const_cast<float*>(noise.data()), {n, a}, torch::kFloat);
      if (impl_->device.is_cpu()) {
        // The update's kernel: the same squashed sample and log-density.
        const Tensor head = MlpForward(impl_->policy, x).contiguous();
        const Tensor e = eps.contiguous();
        std::vector<float> lp(n);
        kernels::SquashForward(impl_->squash, n, head.data_ptr<float>(), e.data_ptr<float>(),
                               actions.data(), a, lp.data(), nullptr, nullptr);
        if (!log_probs.empty()) std::copy(lp.begin(), lp.end(), log_probs.begin());
        return absl::OkStatus();
      }
      eps = eps.to(impl_->device);
      const Squashed s = SquashSample(mean, log_std, eps, impl_->action_scale, impl_->action_bias,
                                      impl_->log_scale_sum);
      action = s.action;
      log_prob = s.log_prob;
    }
    const Tensor out = action.to(torch::kCPU).contiguous();
    std::memcpy(actions.data(), out.data_ptr<float>(), sizeof(float) * n * a);
    if (!log_probs.empty()) {
      const Tensor lp = log_prob.to(torch::kCPU).contiguous();
      std::memcpy(log_probs.data(), lp.data_ptr<float>(), sizeof(float) * n);
    }
    return absl::OkStatus();
  });
}

std::vector<NamedArray> SacLearner::PolicyTensors() const {
  torch::NoGradGuard no_grad;
  const Net& p = impl_->policy;
  const int64_t a = impl_->options.act_dim;
  std::vector<NamedArray> out;
  const size_t last = p.weight.size() - 1;
  for (size_t i = 0; i < last; ++i) {
    out.push_back(ToNamed(absl::StrCat("policy.fc", i, ".weight"), p.weight[i]));
    out.push_back(ToNamed(absl::StrCat("policy.fc", i, ".bias"), p.bias[i]));
  }
  out.push_back(ToNamed("policy.mean.weight", p.weight[last].narrow(0, 0, a)));
  out.push_back(ToNamed("policy.mean.bias", p.bias[last].narrow(0, 0, a)));
  out.push_back(ToNamed("policy.log_std.weight", p.weight[last].narrow(0, a, a)));
  out.push_back(ToNamed("policy.log_std.bias", p.bias[last].narrow(0, a, a)));
  return out;
}

std::vector<NamedArray> SacLearner::AllTensors() const {
  torch::NoGradGuard no_grad;
  const int64_t a = impl_->options.act_dim;
  std::vector<NamedArray> out;
  // Expands one internal tensor into its torch.nn.Linear-style pieces.
  auto add = [&](const std::string& prefix, const std::string& name, const Tensor& t) {
    // name: "<net>.<layer>.<weight|bias>" or "log_alpha".
    const size_t dot = name.find('.');
    const std::string net = name.substr(0, dot);
    const std::string rest = dot == std::string::npos ? "" : name.substr(dot + 1);
    if (net == "q" || net == "q_target") {
      const std::string suffix = net == "q" ? "" : "_target";
      out.push_back(ToNamed(absl::StrCat(prefix, "q1", suffix, ".", rest), t[0]));
      out.push_back(ToNamed(absl::StrCat(prefix, "q2", suffix, ".", rest), t[1]));
    } else if (absl::StartsWith(rest, "head.")) {
      const std::string kind = rest.substr(5);
      out.push_back(ToNamed(absl::StrCat(prefix, net, ".mean.", kind), t.narrow(0, 0, a)));
      out.push_back(ToNamed(absl::StrCat(prefix, net, ".log_std.", kind), t.narrow(0, a, a)));
    } else {
      out.push_back(ToNamed(absl::StrCat(prefix, name), t));
    }
  };
  for (const auto& [name, t] : impl_->StateTensors()) {
    if (absl::StartsWith(name, "adam.step.")) continue;
    if (absl::StartsWith(name, "adam.")) {
      const size_t second = name.find('.', 5);
      add(name.substr(0, second + 1), name.substr(second + 1), t);
    } else {
      add("", name, t);
    }
  }
  return out;
}

v1::PolicyMetadata SacLearner::BaseMetadata() const {
  v1::PolicyMetadata m;
  m.set_task(impl_->options.task);
  m.set_obs_dim(static_cast<uint32_t>(impl_->options.obs_dim));
  m.set_act_dim(static_cast<uint32_t>(impl_->options.act_dim));
  EncodeVector(impl_->options.action_low, m.mutable_action_low());
  EncodeVector(impl_->options.action_high, m.mutable_action_high());
  for (const int64_t h : impl_->hidden) m.add_hidden_sizes(static_cast<uint32_t>(h));
  m.set_activation("relu");
  m.set_variant(impl_->config.variant());
  m.set_updates(impl_->updates);
  m.set_log_std_min(impl_->config.log_std_min());
  m.set_log_std_max(impl_->config.log_std_max());
  return m;
}

absl::Status SacLearner::WritePolicySnapshot(const std::string& path,
                                             const v1::PolicyMetadata& metadata) {
  const v1::PolicyMetadata base = BaseMetadata();
  if (metadata.obs_dim() != base.obs_dim() || metadata.act_dim() != base.act_dim() ||
      metadata.variant() != base.variant() || metadata.activation() != base.activation() ||
      absl::StrJoin(metadata.hidden_sizes(), ",") != absl::StrJoin(base.hidden_sizes(), ",") ||
      metadata.action_low().SerializeAsString() != base.action_low().SerializeAsString() ||
      metadata.action_high().SerializeAsString() != base.action_high().SerializeAsString() ||
      metadata.log_std_min() != base.log_std_min() ||
      metadata.log_std_max() != base.log_std_max()) {
    return absl::InvalidArgumentError(
        "policy snapshot metadata does not describe this learner's policy (start from "
        "BaseMetadata())");
  }
  return Guarded("WritePolicySnapshot", [&]() -> absl::Status {
    SafetensorsFile file;
    file.metadata = PolicyMetadataToStrings(metadata);
    for (NamedArray& t : PolicyTensors()) {
      file.tensors[t.name] = SafetensorsTensor{std::move(t.shape), std::move(t.values)};
    }
    return WriteFileAtomically(path, SerializeSafetensors(file));
  });
}

absl::Status SacLearner::SaveCheckpoint(const std::string& path, absl::string_view extra) {
  return Guarded("SaveCheckpoint", [&]() -> absl::Status {
    CheckpointContents c;
    const Impl& s = *impl_;
    c.strings["format"] = kCheckpointFormat;
    c.strings["sac_config"] = s.config.SerializeAsString();
    c.strings["sac_config_text"] = ConfigToText(s.config);
    c.strings["task"] = s.options.task;
    c.strings["obs_dim"] = absl::StrCat(s.options.obs_dim);
    c.strings["act_dim"] = absl::StrCat(s.options.act_dim);
    c.strings["seed"] = absl::StrCat(s.options.seed);
    c.strings["threads"] = absl::StrCat(s.options.threads);
    c.strings["device"] = s.device.str();
    c.strings["updates"] = absl::StrCat(s.updates);
    c.strings["extra"] = std::string(extra);
    c.arrays["action_low"] = ToArray(torch::tensor(s.options.action_low));
    c.arrays["action_high"] = ToArray(torch::tensor(s.options.action_high));
    for (const auto& [name, t] : s.StateTensors()) c.arrays[name] = ToArray(t);
    c.arrays["rng.train"] = ToArray(s.train_gen.get_state());
    c.arrays["rng.eval"] = ToArray(s.eval_gen.get_state());
    return WriteCheckpointFile(path, c);
  });
}

absl::Status SacLearner::LoadCheckpoint(const std::string& path, std::string* extra) {
  ASSIGN_OR_RETURN(CheckpointContents c, ReadCheckpointFile(path));
  if (c.strings["format"] != kCheckpointFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a learner checkpoint of this format (format '",
                     c.strings["format"], "', expected '", kCheckpointFormat, "')"));
  }
  Impl& s = *impl_;
  v1::SacConfig saved;
  if (!saved.ParseFromString(c.strings["sac_config"])) {
    return absl::DataLossError(absl::StrCat(path, ": unreadable sac_config"));
  }
  const std::string here =
      absl::StrCat("variant ", s.config.variant(), ", obs ", s.options.obs_dim, ", act ",
                   s.options.act_dim, ", hidden [", absl::StrJoin(s.hidden, ","), "]");
  const std::string there = absl::StrCat(
      "variant ", saved.variant(), ", obs ", c.strings["obs_dim"], ", act ", c.strings["act_dim"],
      ", hidden [", absl::StrJoin(saved.hidden_sizes(), ","), "]");
  if (here != there) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": checkpoint is for ", there, "; this learner is ", here));
  }
  const CheckpointArray low = ToArray(torch::tensor(s.options.action_low));
  const CheckpointArray high = ToArray(torch::tensor(s.options.action_high));
  if (c.arrays["action_low"].bytes != low.bytes || c.arrays["action_high"].bytes != high.bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": checkpoint was trained with other action bounds"));
  }
  if (saved.SerializeAsString() != s.config.SerializeAsString()) {
    SAC_LOG(WARNING) << path << ": the checkpoint's sac config differs from this learner's; "
                     << "continuing with this learner's config: " << ConfigToText(s.config, true);
  }
  if (c.strings["threads"] != absl::StrCat(s.options.threads)) {
    SAC_LOG(WARNING) << path << ": checkpoint written with " << c.strings["threads"]
                     << " threads, this learner uses " << s.options.threads
                     << ": training continues exactly but not bit for bit";
  }
  return Guarded("LoadCheckpoint", [&]() -> absl::Status {
    // Stage every tensor first, so that an error leaves this learner unchanged.
    std::vector<std::pair<Tensor, Tensor>> staged;  // (destination, value)
    auto stage = [&](const std::string& name, const Tensor& dest) -> absl::Status {
      auto it = c.arrays.find(name);
      const std::vector<int64_t> shape(dest.sizes().begin(), dest.sizes().end());
      if (it == c.arrays.end() || it->second.shape != shape) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": checkpoint lacks ", name, " of shape ", ShapeToString(shape)));
      }
      const torch::ScalarType type = it->second.dtype == ArrayDtype::kFloat32 ? torch::kFloat
                                     : it->second.dtype == ArrayDtype::kUint8 ? torch::kByte
                                                                              : torch::kLong;
      if (type != dest.scalar_type()) {
        return absl::FailedPreconditionError(absl::StrCat(path, ": ", name, " has another dtype"));
      }
      Tensor value = torch::empty(shape, torch::TensorOptions().dtype(type));
      std::memcpy(value.data_ptr(), it->second.bytes.data(), it->second.bytes.size());
      staged.emplace_back(dest, value);
      return absl::OkStatus();
    };
    for (const auto& [name, t] : s.StateTensors()) RETURN_IF_ERROR(stage(name, t));
    const Tensor train_state = s.train_gen.get_state();
    const Tensor eval_state = s.eval_gen.get_state();
    auto rng_train = c.arrays.find("rng.train");
    auto rng_eval = c.arrays.find("rng.eval");
    if (rng_train == c.arrays.end() || rng_eval == c.arrays.end() ||
        rng_train->second.bytes.size() != static_cast<size_t>(train_state.nbytes()) ||
        rng_eval->second.bytes.size() != static_cast<size_t>(eval_state.nbytes())) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": checkpoint lacks RNG states"));
    }
    uint64_t updates = 0;
    if (!absl::SimpleAtoi(c.strings["updates"], &updates)) {
      return absl::DataLossError(absl::StrCat(path, ": bad update counter"));
    }
    // Commit.
    torch::NoGradGuard no_grad;
    for (auto& [dest, value] : staged) dest.copy_(value);
    Tensor train_new = torch::empty_like(train_state);
    std::memcpy(train_new.data_ptr(), rng_train->second.bytes.data(), train_new.nbytes());
    Tensor eval_new = torch::empty_like(eval_state);
    std::memcpy(eval_new.data_ptr(), rng_eval->second.bytes.data(), eval_new.nbytes());
    s.train_gen.set_state(train_new);
    s.eval_gen.set_state(eval_new);
    s.updates = updates;
    if (extra != nullptr) *extra = c.strings["extra"];
    return absl::OkStatus();
  });
}

uint64_t SacLearner::updates() const { return impl_->updates; }
const v1::SacConfig& SacLearner::config() const { return impl_->config; }
const LearnerOptions& SacLearner::options() const { return impl_->options; }
std::string SacLearner::device() const { return impl_->device.str(); }

absl::StatusOr<SquashedSample> SampleSquashedGaussian(std::span<const float> mean,
                                                      std::span<const float> log_std,
                                                      std::span<const float> eps,
                                                      std::span<const float> scale,
                                                      std::span<const float> bias, int64_t n) {
  if (n <= 0 || scale.empty() || scale.size() != bias.size() || mean.size() != n * scale.size() ||
      log_std.size() != mean.size() || eps.size() != mean.size()) {
    return absl::InvalidArgumentError("SampleSquashedGaussian: inconsistent sizes");
  }
  // The hand-written update's kernel (the default path); log_std is already clamped.
  const int64_t a = static_cast<int64_t>(scale.size());
  kernels::SquashParams p;
  p.act_dim = a;
  p.scale = scale.data();
  p.bias = bias.data();
  p.log_std_min = -std::numeric_limits<float>::infinity();
  p.log_std_max = std::numeric_limits<float>::infinity();
  for (const float sc : scale) p.log_scale_sum += std::log(static_cast<double>(sc));
  std::vector<float> head(2 * n * a);
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(mean.data() + i * a, a, head.data() + i * 2 * a);
    std::copy_n(log_std.data() + i * a, a, head.data() + i * 2 * a + a);
  }
  SquashedSample out;
  out.action.resize(n * a);
  out.log_prob.resize(n);
  kernels::SquashForward(p, n, head.data(), eps.data(), out.action.data(), a, out.log_prob.data(),
                         nullptr, nullptr);
  return out;
}

}  // namespace sac::learner

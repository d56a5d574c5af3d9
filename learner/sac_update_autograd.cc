// The SAC update in LibTorch autograd: the losses as the paper writes them
// (docs/learner.md), one backward pass of their sum. Runs on any device; the
// CUDA learner and the autograd switch of bench/learner_throughput use it (the
// CPU default is the hand-written update, sac_update_manual.cc).
#include <torch/torch.h>

#include <optional>

#include "learner/sac_learner_internal.h"

namespace sac::learner {

using internal::kNaN;
using internal::MlpForward;
using internal::Squashed;
using internal::SquashSample;
using internal::TwinForward;
using torch::Tensor;

namespace internal {
namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178;  // 0.5 * log(2 pi)
constexpr double kLog2 = 0.69314718055994530942;

}  // namespace

// A plain MLP, ReLU between layers, none after the last. `detach`: use the
// weights as constants (gradients reach the input only).
Tensor MlpForward(const Net& net, Tensor x, bool detach) {
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
Tensor TwinForward(const Net& net, const Tensor& x, bool detach, bool fused) {
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

}  // namespace internal

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
  const Tensor alpha = learn_alpha ? log_alpha.detach().exp()
                                   : torch::full({}, config.initial_temperature(), obs.options());

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
  } else if (learn_alpha) {
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
      torch::stack({j_q[0], j_q[1], v2 ? nan : j_v, j_pi, learn_alpha ? j_alpha : nan, alpha,
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

}  // namespace sac::learner

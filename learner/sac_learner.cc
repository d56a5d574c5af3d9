// The learner core's construction and shared steps: the networks and their
// flat buffers, Adam and Polyak averaging, Update (which dispatches to the
// autograd or the hand-written update) and the policy tensors. The private
// header (sac_learner_internal.h) lists the other parts.
#include "learner/sac_learner.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/cpu/Utils.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/status.h"
#include "learner/sac_learner_internal.h"

namespace sac::learner {

using internal::CloneNet;
using internal::Guarded;
using internal::MakeMlp;
using internal::MakeNet;
using internal::MlpForward;
using internal::Net;
using internal::ToNamed;
using torch::Tensor;

namespace internal {

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

NamedArray ToNamed(const std::string& name, const Tensor& t) {
  const Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  NamedArray out;
  out.name = name;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

}  // namespace internal

namespace {

constexpr double kAdamBeta1 = 0.9;
constexpr double kAdamBeta2 = 0.999;
constexpr double kAdamEps = 1e-8;

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
  // c10::DeviceIndex is int8_t: a count here, not a character.
  // NOLINTNEXTLINE(bugprone-signed-char-misuse)
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

// Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX-BF16, as
// cpuinfo reports them to LibTorch). Without either, oneDNN would emulate the
// products, slower than float32.
bool CpuHasBf16Products() {
  const auto caps = at::cpu::get_cpu_capabilities();
  for (const char* flag : {"avx512_bf16", "amx_bf16"}) {
    const auto it = caps.find(flag);
    if (it != caps.end() && it->second.isBool() && it->second.toBool()) return true;
  }
  return false;
}

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
  flat_params = Flatten(trainable, learn_alpha ? &log_alpha : nullptr, device);
  for (const Net* net : trainable) {
    for (const Tensor& p : net->Params()) params.push_back(p);
    for (const std::string& n : net->ParamNames()) param_names.push_back(n);
  }
  if (learn_alpha) {
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
    if (bf16) MakeBf16Weights();
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

void SacLearner::Impl::OptimizerStep() {
  torch::NoGradGuard no_grad;
  // The fused kernel reads the step count; it does not advance it.
  step.add_(1.0);
  if (options.tuning.fused_adam) {
    at::_fused_adam_({flat_params}, {flat_grads}, {flat_exp_avg}, {flat_exp_avg_sq},
                     /*max_exp_avg_sqs=*/{}, {step}, config.learning_rate(), kAdamBeta1, kAdamBeta2,
                     /*weight_decay=*/0.0, kAdamEps, /*amsgrad=*/false,
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
    // v1's temperature is always fixed; sac.learn_temperature is v2's switch (a
    // process's config carries every field with its default, so an explicit
    // true cannot be told from the default here).
    impl->learn_alpha = impl->v2 && config.learn_temperature();
    impl->manual = options.tuning.manual_backward && impl->device.is_cpu();
    impl->bf16 = config.matmul_dtype() == "bfloat16";
    if (impl->bf16 && !impl->manual) {
      return absl::InvalidArgumentError(
          absl::StrCat("sac.matmul_dtype=bfloat16 applies to the hand-written CPU update; device '",
                       options.device, "'", impl->device.is_cpu() ? " with autograd" : "",
                       " runs in float32: use sac.matmul_dtype=float32"));
    }
    if (impl->bf16 && !CpuHasBf16Products()) {
      return absl::FailedPreconditionError(
          "sac.matmul_dtype=bfloat16: this CPU has no bfloat16 products (neither AVX512-BF16 "
          "nor AMX-BF16); use sac.matmul_dtype=float32");
    }
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

absl::StatusOr<UpdateMetrics> SacLearner::Update(const HostBatch& batch) {
  RETURN_IF_ERROR(ValidateHostBatch(batch, impl_->options.obs_dim, impl_->options.act_dim));
  return Guarded("SacLearner::Update", [&]() -> absl::StatusOr<UpdateMetrics> {
    Tensor noise = torch::randn({impl_->NoiseDraws(), batch.batch_size, impl_->options.act_dim},
                                impl_->train_gen, torch::kFloat);
    if (impl_->manual) return impl_->ManualStep(batch, noise.data_ptr<float>());
    if (!impl_->device.is_cpu()) noise = noise.to(impl_->device);
    return impl_->Step(batch, noise);
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

uint64_t SacLearner::updates() const { return impl_->updates; }
const v1::SacConfig& SacLearner::config() const { return impl_->config; }
const LearnerOptions& SacLearner::options() const { return impl_->options; }
std::string SacLearner::device() const { return impl_->device.str(); }

}  // namespace sac::learner

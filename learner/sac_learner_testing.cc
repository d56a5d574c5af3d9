// The learner core's test-only entry points (sac_learner_testing.h).
#include "learner/sac_learner_testing.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "learner/sac_kernels.h"
#include "learner/sac_learner_internal.h"

namespace sac::learner {

using internal::Guarded;
using internal::MlpForward;
using internal::Net;
using internal::Squashed;
using internal::SquashSample;
using internal::ToNamed;
using torch::Tensor;

int SacLearnerTesting::NoiseDraws(const SacLearner& learner) { return learner.impl_->NoiseDraws(); }

absl::StatusOr<UpdateMetrics> SacLearnerTesting::UpdateWithNoise(SacLearner& learner,
                                                                 const HostBatch& batch,
                                                                 std::span<const float> noise) {
  SacLearner::Impl* impl_ = learner.impl_.get();
  RETURN_IF_ERROR(ValidateHostBatch(batch, impl_->options.obs_dim, impl_->options.act_dim));
  const int64_t expected = impl_->NoiseDraws() * batch.batch_size * impl_->options.act_dim;
  if (static_cast<int64_t>(noise.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise holds ", noise.size(), " values, expected ", expected));
  }
  return Guarded("SacLearner::UpdateWithNoise", [&]() -> absl::StatusOr<UpdateMetrics> {
    if (impl_->manual) return impl_->ManualStep(batch, noise.data());
    const Tensor t =
        torch::from_blob(const_cast<float*>(noise.data()),
                         {impl_->NoiseDraws(), batch.batch_size, impl_->options.act_dim},
                         torch::kFloat)
            .to(impl_->device, /*non_blocking=*/false, /*copy=*/true);
    return impl_->Step(batch, t);
  });
}

absl::Status SacLearnerTesting::PolicyForward(SacLearner& learner, std::span<const float> obs,
                                              int64_t n, PolicyMode mode,
                                              std::span<const float> noise,
                                              std::span<float> actions,
                                              std::span<float> log_probs) {
  SacLearner::Impl* impl_ = learner.impl_.get();
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

std::vector<NamedArray> SacLearnerTesting::AllTensors(const SacLearner& learner) {
  const SacLearner::Impl* impl_ = learner.impl_.get();
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

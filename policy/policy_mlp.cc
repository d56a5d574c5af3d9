#include "policy/policy_mlp.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "common/status.h"
#include "common/tensor_codec.h"

namespace sac {

absl::StatusOr<std::unique_ptr<PolicyMlp>> PolicyMlp::FromPolicy(const v1::Policy& policy) {
  std::map<std::string, SafetensorsTensor> tensors;
  for (const auto& named : policy.tensors()) {
    ASSIGN_OR_RETURN(TensorView view, DecodeTensor(named.tensor(), named.name()));
    tensors[named.name()] = {view.shape(),
                             std::vector<float>(view.values().begin(), view.values().end())};
  }
  ASSIGN_OR_RETURN(PolicyWeights weights, PolicyWeightsFromTensors(tensors, policy.metadata()));
  return Build(std::move(weights));
}

absl::StatusOr<std::unique_ptr<PolicyMlp>> PolicyMlp::FromSafetensors(const SafetensorsFile& file) {
  ASSIGN_OR_RETURN(PolicyWeights weights, PolicyWeightsFromSafetensors(file));
  return Build(std::move(weights));
}

std::unique_ptr<PolicyMlp> PolicyMlp::Build(PolicyWeights weights) {
  // Our products are small (a batch of envs): OpenBLAS's own threads cost more
  // than they save there (measured: 3x slower per observation at batch 16 on 2
  // cores), and the actor's parallelism is its processes and env threads.
  static const bool single_threaded = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single_threaded;
  return std::unique_ptr<PolicyMlp>(new PolicyMlp(std::move(weights)));
}

void PolicyMlp::Dense(const PolicyLayer& layer, const float* x, int n, float* y) {
  for (int r = 0; r < n; ++r) {
    std::copy(layer.bias.begin(), layer.bias.end(), y + static_cast<size_t>(r) * layer.out);
  }
  // y = x * W^T + y
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, layer.out, layer.in, 1.0f, x, layer.in,
              layer.weight.data(), layer.in, 1.0f, y, layer.out);
}

void PolicyMlp::Act(std::span<const float> obs, int n, bool deterministic, std::mt19937_64* rng,
                    std::span<float> actions) {
  const int act_dim = weights_.act_dim;
  const float* x = obs.data();
  for (const PolicyLayer& layer : weights_.hidden) {
    std::vector<float>& y = (x == a_.data()) ? b_ : a_;
    y.resize(static_cast<size_t>(n) * layer.out);
    Dense(layer, x, n, y.data());
    for (float& v : y) v = v > 0 ? v : 0;
    x = y.data();
  }
  mu_.resize(static_cast<size_t>(n) * act_dim);
  Dense(weights_.mean, x, n, mu_.data());
  if (!deterministic) {
    ls_.resize(static_cast<size_t>(n) * act_dim);
    Dense(weights_.log_std, x, n, ls_.data());
  }
  for (int r = 0; r < n; ++r) {
    for (int j = 0; j < act_dim; ++j) {
      const size_t k = static_cast<size_t>(r) * act_dim + j;
      float u = mu_[k];
      if (!deterministic) {
        const float log_std = std::clamp(ls_[k], weights_.log_std_min, weights_.log_std_max);
        u += std::exp(log_std) * normal_(*rng);
      }
      actions[k] = std::tanh(u) * weights_.action_scale[j] + weights_.action_bias[j];
    }
  }
}

}  // namespace sac

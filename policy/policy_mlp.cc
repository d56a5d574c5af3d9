#include "policy/policy_mlp.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"

namespace sac {
namespace {

absl::Status TakeLayer(const std::map<std::string, SafetensorsTensor>& tensors,
                       const std::string& prefix, int in, int out, std::vector<float>* weight,
                       std::vector<float>* bias) {
  auto w = tensors.find(prefix + ".weight");
  auto b = tensors.find(prefix + ".bias");
  if (w == tensors.end() || b == tensors.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: missing ", prefix, ".weight or ", prefix, ".bias"));
  }
  if (w->second.shape != std::vector<int64_t>{out, in}) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ".weight: shape ",
                                                   ShapeToString(w->second.shape), ", expected [",
                                                   out, ", ", in, "]"));
  }
  if (b->second.shape != std::vector<int64_t>{out}) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, ".bias: shape ", ShapeToString(b->second.shape), ", expected [", out, "]"));
  }
  RETURN_IF_ERROR(CheckFinite(w->second.values, prefix + ".weight"));
  RETURN_IF_ERROR(CheckFinite(b->second.values, prefix + ".bias"));
  *weight = w->second.values;
  *bias = b->second.values;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PolicyMlp>> PolicyMlp::FromPolicy(const v1::Policy& policy) {
  std::map<std::string, SafetensorsTensor> tensors;
  for (const auto& named : policy.tensors()) {
    ASSIGN_OR_RETURN(TensorView view, DecodeTensor(named.tensor(), named.name()));
    tensors[named.name()] = {view.shape(),
                             std::vector<float>(view.values().begin(), view.values().end())};
  }
  return Build(tensors, policy.metadata());
}

absl::StatusOr<std::unique_ptr<PolicyMlp>> PolicyMlp::FromSafetensors(const SafetensorsFile& file) {
  ASSIGN_OR_RETURN(v1::PolicyMetadata metadata, PolicyMetadataFromStrings(file.metadata));
  return Build(file.tensors, std::move(metadata));
}

absl::StatusOr<std::unique_ptr<PolicyMlp>> PolicyMlp::Build(
    const std::map<std::string, SafetensorsTensor>& tensors, v1::PolicyMetadata metadata) {
  // Our products are small (a batch of envs): OpenBLAS's own threads cost more
  // than they save there (measured: 3x slower per observation at batch 16 on 2
  // cores), and the actor's parallelism is its processes and env threads.
  static const bool single_threaded = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single_threaded;
  std::unique_ptr<PolicyMlp> p(new PolicyMlp());
  p->obs_dim_ = static_cast<int>(metadata.obs_dim());
  p->act_dim_ = static_cast<int>(metadata.act_dim());
  if (p->obs_dim_ <= 0 || p->act_dim_ <= 0) {
    return absl::InvalidArgumentError("policy: metadata lacks obs_dim/act_dim");
  }
  if (metadata.hidden_sizes_size() == 0) {
    return absl::InvalidArgumentError("policy: metadata lacks hidden_sizes");
  }
  if (!metadata.activation().empty() && metadata.activation() != "relu") {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: activation '", metadata.activation(), "', only relu is known"));
  }
  int in = p->obs_dim_;
  for (int i = 0; i < metadata.hidden_sizes_size(); ++i) {
    Layer layer;
    layer.in = in;
    layer.out = static_cast<int>(metadata.hidden_sizes(i));
    RETURN_IF_ERROR(TakeLayer(tensors, absl::StrCat("policy.fc", i), layer.in, layer.out,
                              &layer.weight, &layer.bias));
    in = layer.out;
    p->hidden_.push_back(std::move(layer));
  }
  p->mean_ = {in, p->act_dim_, {}, {}};
  p->log_std_ = {in, p->act_dim_, {}, {}};
  RETURN_IF_ERROR(
      TakeLayer(tensors, "policy.mean", in, p->act_dim_, &p->mean_.weight, &p->mean_.bias));
  RETURN_IF_ERROR(TakeLayer(tensors, "policy.log_std", in, p->act_dim_, &p->log_std_.weight,
                            &p->log_std_.bias));
  const int64_t act_shape[] = {p->act_dim_};
  ASSIGN_OR_RETURN(TensorView low, DecodeTensor(metadata.action_low(), "action_low", act_shape));
  ASSIGN_OR_RETURN(TensorView high, DecodeTensor(metadata.action_high(), "action_high", act_shape));
  for (int j = 0; j < p->act_dim_; ++j) {
    if (!(high.values()[j] > low.values()[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy: action_high[", j, "] is not above action_low[", j, "]"));
    }
    p->scale_.push_back((high.values()[j] - low.values()[j]) / 2);
    p->bias_.push_back((high.values()[j] + low.values()[j]) / 2);
  }
  if (metadata.log_std_min() < metadata.log_std_max()) {
    p->log_std_min_ = static_cast<float>(metadata.log_std_min());
    p->log_std_max_ = static_cast<float>(metadata.log_std_max());
  }
  p->metadata_ = std::move(metadata);
  return p;
}

void PolicyMlp::Dense(const Layer& layer, const float* x, int n, float* y) {
  for (int r = 0; r < n; ++r) {
    std::copy(layer.bias.begin(), layer.bias.end(), y + static_cast<size_t>(r) * layer.out);
  }
  // y = x * W^T + y
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, layer.out, layer.in, 1.0f, x, layer.in,
              layer.weight.data(), layer.in, 1.0f, y, layer.out);
}

void PolicyMlp::Act(std::span<const float> obs, int n, bool deterministic, std::mt19937_64* rng,
                    std::span<float> actions) {
  const float* x = obs.data();
  for (const Layer& layer : hidden_) {
    std::vector<float>& y = (x == a_.data()) ? b_ : a_;
    y.resize(static_cast<size_t>(n) * layer.out);
    Dense(layer, x, n, y.data());
    for (float& v : y) v = v > 0 ? v : 0;
    x = y.data();
  }
  mu_.resize(static_cast<size_t>(n) * act_dim_);
  Dense(mean_, x, n, mu_.data());
  if (!deterministic) {
    ls_.resize(static_cast<size_t>(n) * act_dim_);
    Dense(log_std_, x, n, ls_.data());
  }
  for (int r = 0; r < n; ++r) {
    for (int j = 0; j < act_dim_; ++j) {
      const size_t k = static_cast<size_t>(r) * act_dim_ + j;
      float u = mu_[k];
      if (!deterministic) {
        const float log_std = std::clamp(ls_[k], log_std_min_, log_std_max_);
        u += std::exp(log_std) * normal_(*rng);
      }
      actions[k] = std::tanh(u) * scale_[j] + bias_[j];
    }
  }
}

}  // namespace sac

#include "policy/policy_weights.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"

namespace sac {
namespace {

absl::Status TakeLayer(const std::map<std::string, SafetensorsTensor>& tensors,
                       const std::string& prefix, int in, int out, PolicyLayer* layer) {
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
  layer->name = prefix;
  layer->in = in;
  layer->out = out;
  layer->weight = w->second.values;
  layer->bias = b->second.values;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PolicyWeights> PolicyWeightsFromTensors(
    const std::map<std::string, SafetensorsTensor>& tensors, v1::PolicyMetadata metadata) {
  PolicyWeights p;
  p.obs_dim = static_cast<int>(metadata.obs_dim());
  p.act_dim = static_cast<int>(metadata.act_dim());
  if (p.obs_dim <= 0 || p.act_dim <= 0) {
    return absl::InvalidArgumentError("policy: metadata lacks obs_dim/act_dim");
  }
  if (metadata.hidden_sizes_size() == 0) {
    return absl::InvalidArgumentError("policy: metadata lacks hidden_sizes");
  }
  if (!metadata.activation().empty() && metadata.activation() != "relu") {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: activation '", metadata.activation(), "', only relu is known"));
  }
  int in = p.obs_dim;
  for (int i = 0; i < metadata.hidden_sizes_size(); ++i) {
    PolicyLayer layer;
    RETURN_IF_ERROR(TakeLayer(tensors, absl::StrCat("policy.fc", i), in,
                              static_cast<int>(metadata.hidden_sizes(i)), &layer));
    in = layer.out;
    p.hidden.push_back(std::move(layer));
  }
  RETURN_IF_ERROR(TakeLayer(tensors, "policy.mean", in, p.act_dim, &p.mean));
  RETURN_IF_ERROR(TakeLayer(tensors, "policy.log_std", in, p.act_dim, &p.log_std));
  const int64_t act_shape[] = {p.act_dim};
  ASSIGN_OR_RETURN(TensorView low, DecodeTensor(metadata.action_low(), "action_low", act_shape));
  ASSIGN_OR_RETURN(TensorView high, DecodeTensor(metadata.action_high(), "action_high", act_shape));
  for (int j = 0; j < p.act_dim; ++j) {
    if (!(high.values()[j] > low.values()[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy: action_high[", j, "] is not above action_low[", j, "]"));
    }
    p.action_scale.push_back((high.values()[j] - low.values()[j]) / 2);
    p.action_bias.push_back((high.values()[j] + low.values()[j]) / 2);
  }
  if (metadata.log_std_min() < metadata.log_std_max()) {
    p.log_std_min = static_cast<float>(metadata.log_std_min());
    p.log_std_max = static_cast<float>(metadata.log_std_max());
  }
  p.metadata = std::move(metadata);
  return p;
}

absl::StatusOr<PolicyWeights> PolicyWeightsFromSafetensors(const SafetensorsFile& file) {
  ASSIGN_OR_RETURN(v1::PolicyMetadata metadata, PolicyMetadataFromStrings(file.metadata));
  return PolicyWeightsFromTensors(file.tensors, std::move(metadata));
}

}  // namespace sac

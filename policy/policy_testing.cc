#include "policy/policy_testing.h"

#include <memory>
#include <random>

#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"

namespace sac {
namespace {

std::vector<float> Values(const std::string& name, const std::vector<int64_t>& shape,
                          const TensorValues& value) {
  std::vector<float> v(static_cast<size_t>(NumElements(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = value(name, i);
  return v;
}

}  // namespace

TensorValues UniformValues(uint64_t seed, float limit) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [rng, limit](const std::string& /*name*/, size_t /*index*/) {
    return std::uniform_real_distribution<float>(-limit, limit)(*rng);
  };
}

std::vector<std::pair<std::string, std::vector<int64_t>>> PolicyTensorShapes(
    const v1::PolicyMetadata& metadata) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  auto layer = [&shapes](const std::string& prefix, int64_t in, int64_t out) {
    shapes.emplace_back(prefix + ".weight", std::vector<int64_t>{out, in});
    shapes.emplace_back(prefix + ".bias", std::vector<int64_t>{out});
  };
  int64_t in = metadata.obs_dim();
  for (int i = 0; i < metadata.hidden_sizes_size(); ++i) {
    layer("policy.fc" + std::to_string(i), in, metadata.hidden_sizes(i));
    in = metadata.hidden_sizes(i);
  }
  layer("policy.mean", in, metadata.act_dim());
  layer("policy.log_std", in, metadata.act_dim());
  return shapes;
}

SafetensorsFile MakePolicySnapshot(const v1::PolicyMetadata& metadata, const TensorValues& value) {
  SafetensorsFile file;
  file.metadata = PolicyMetadataToStrings(metadata);
  for (auto& [name, shape] : PolicyTensorShapes(metadata)) {
    std::vector<float> v = Values(name, shape, value);
    file.tensors[name] = {std::move(shape), std::move(v)};
  }
  return file;
}

v1::Policy MakePolicyMessage(const v1::PolicyMetadata& metadata, const TensorValues& value) {
  v1::Policy policy;
  *policy.mutable_metadata() = metadata;
  for (const auto& [name, shape] : PolicyTensorShapes(metadata)) {
    auto* t = policy.add_tensors();
    t->set_name(name);
    EncodeTensor(Values(name, shape, value), shape, t->mutable_tensor());
  }
  return policy;
}

}  // namespace sac

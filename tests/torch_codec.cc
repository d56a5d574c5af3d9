#include "tests/torch_codec.h"

#include <cstring>

#include "common/tensor_codec.h"

namespace sac {

void TensorToProto(const torch::Tensor& tensor, v1::Tensor* out) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  out->mutable_shape()->Assign(t.sizes().begin(), t.sizes().end());
  out->mutable_data()->assign(reinterpret_cast<const char*>(t.data_ptr<float>()),
                              static_cast<size_t>(t.numel()) * sizeof(float));
}

absl::StatusOr<torch::Tensor> ProtoToTensor(const v1::Tensor& proto, absl::string_view field,
                                            std::span<const int64_t> expected_shape,
                                            bool require_finite) {
  auto view = DecodeTensor(proto, field, expected_shape, require_finite);
  if (!view.ok()) return view.status();
  torch::Tensor t = torch::empty(view->shape(), torch::kFloat32);
  std::memcpy(t.data_ptr<float>(), view->values().data(), view->values().size() * sizeof(float));
  return t;
}

}  // namespace sac

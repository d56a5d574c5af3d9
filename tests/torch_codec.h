// Test support: sac.v1.Tensor <-> torch::Tensor (float32, CPU, contiguous), for
// the tests that mix LibTorch with our wire format (interop_link_test). Kept
// under tests/ so that common/ does not link LibTorch.
#ifndef SAC_TESTS_TORCH_CODEC_H_
#define SAC_TESTS_TORCH_CODEC_H_

#include <torch/types.h>

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sac/v1/tensor.pb.h"

namespace sac {

// Copies `tensor` (any device, float32 or convertible) into `out`.
void TensorToProto(const torch::Tensor& tensor, v1::Tensor* out);

// A new float32 CPU tensor with the proto's shape and values; checks as
// DecodeTensor (byte count, expected shape with kAnyDim, finiteness).
absl::StatusOr<torch::Tensor> ProtoToTensor(const v1::Tensor& proto, absl::string_view field,
                                            std::span<const int64_t> expected_shape = {},
                                            bool require_finite = true);

}  // namespace sac

#endif  // SAC_TESTS_TORCH_CODEC_H_

// The tensor codec: sac.v1.Tensor (shape + packed little-endian float32 bytes)
// to and from plain spans, with shape and finiteness checks. Errors are
// INVALID_ARGUMENT and name the field. No LibTorch here (tests/torch_codec.h is the
// test-only torch::Tensor variant).
#ifndef SAC_COMMON_TENSOR_CODEC_H_
#define SAC_COMMON_TENSOR_CODEC_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sac/v1/tensor.pb.h"

namespace sac {

// Matches any size in that dimension of an expected shape.
inline constexpr int64_t kAnyDim = -1;

// A read-only float32 view of a decoded tensor. It points into the message's
// bytes when they are suitably aligned (no copy) and owns a copy otherwise; it
// must not outlive the message it was decoded from.
class TensorView {
 public:
  TensorView() = default;
  // A copy of a view that owns its values points at its own copy of them, not
  // at the original's (which may be gone by then). Moving keeps the buffer.
  TensorView(const TensorView& other);
  TensorView& operator=(const TensorView& other);
  TensorView(TensorView&&) noexcept = default;
  TensorView& operator=(TensorView&&) noexcept = default;
  const std::vector<int64_t>& shape() const { return shape_; }
  std::span<const float> values() const { return values_; }
  int64_t num_elements() const { return static_cast<int64_t>(values_.size()); }
  // Row i of a tensor seen as [shape[0], rest...].
  std::span<const float> row(int64_t i) const;

 private:
  friend absl::StatusOr<TensorView> DecodeTensor(const v1::Tensor&, absl::string_view,
                                                 std::span<const int64_t>, bool);
  std::vector<int64_t> shape_;
  std::span<const float> values_;
  std::vector<float> copy_;
};

// Product of the dimensions (1 for a scalar); -1 if a dimension is negative or
// the product overflows.
int64_t NumElements(std::span<const int64_t> shape);

// Decodes `tensor`, named `field` in error messages. `expected_shape` (may hold
// kAnyDim) is checked when not empty; with `require_finite`, NaN and +-inf are
// rejected with the index of the first bad element.
absl::StatusOr<TensorView> DecodeTensor(const v1::Tensor& tensor, absl::string_view field,
                                        std::span<const int64_t> expected_shape = {},
                                        bool require_finite = true);

// Writes `values` with `shape` into `out` (replacing what it held). The caller
// guarantees values.size() == NumElements(shape).
void EncodeTensor(std::span<const float> values, std::span<const int64_t> shape, v1::Tensor* out);

// Convenience: a [n] or [rows, cols] tensor.
void EncodeVector(std::span<const float> values, v1::Tensor* out);
void EncodeMatrix(std::span<const float> values, int64_t rows, int64_t cols, v1::Tensor* out);

// Checks that every value is finite; the error names `field` and the index.
absl::Status CheckFinite(std::span<const float> values, absl::string_view field);

// Checks a 0/1 flag column of `rows` bytes (terminated, truncated).
absl::Status CheckFlagColumn(absl::string_view bytes, int64_t rows, absl::string_view field);

std::string ShapeToString(std::span<const int64_t> shape);

}  // namespace sac

#endif  // SAC_COMMON_TENSOR_CODEC_H_

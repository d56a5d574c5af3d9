#include "common/tensor_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sac {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian float32; add byte swapping for this host");

TensorView::TensorView(const TensorView& other)
    : shape_(other.shape_), values_(other.values_), copy_(other.copy_) {
  if (other.values_.data() == other.copy_.data()) values_ = copy_;
}

TensorView& TensorView::operator=(const TensorView& other) {
  if (this != &other) *this = TensorView(other);  // the copy constructor, then a move
  return *this;
}

std::span<const float> TensorView::row(int64_t i) const {
  if (shape_.empty() || shape_[0] == 0) return {};
  const int64_t width = num_elements() / shape_[0];
  return values_.subspan(static_cast<size_t>(i * width), static_cast<size_t>(width));
}

int64_t NumElements(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / 4 / d) return -1;
    n *= d;
  }
  return n;
}

std::string ShapeToString(std::span<const int64_t> shape) {
  std::vector<std::string> parts;
  for (int64_t d : shape) parts.push_back(d == kAnyDim ? "*" : std::to_string(d));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

namespace {

// True when all `n` floats are finite. A float is infinite or NaN exactly when
// its magnitude bits m = bits & 0x7fffffff exceed 0x7f7fffff (the largest
// finite one), i.e. when 0x7f7fffff - m is negative (no overflow: m is at most
// 0x7fffffff); OR-ing those differences keeps any sign bit. Fixed blocks of
// subtract-and-OR so that GCC vectorizes it at -O2 with plain SSE2; no branch
// per value.
[[gnu::always_inline]] inline bool AllFiniteLoop(const float* values, size_t n) {
  constexpr size_t kBlock = 64;
  constexpr int32_t kMaxFinite = 0x7f7fffff;
  int32_t acc = 0;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    int32_t block = 0;
    for (size_t j = 0; j < kBlock; ++j) {
      block |= kMaxFinite - (std::bit_cast<int32_t>(values[i + j]) & 0x7fffffff);
    }
    acc |= block;
  }
  for (; i < n; ++i) acc |= kMaxFinite - (std::bit_cast<int32_t>(values[i]) & 0x7fffffff);
  return acc >= 0;
}

// On x86-64 the same loop is also compiled for AVX2 (about twice as fast:
// docs/perf.md) and picked at the first call where the CPU has AVX2. Picked by
// a plain check, not an ifunc: an ifunc resolver runs before the sanitizers'
// runtimes start, and crashed the ThreadSanitizer build.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) bool AllFiniteAvx2(const float* values, size_t n) {
  return AllFiniteLoop(values, n);
}

bool AllFinite(const float* values, size_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? AllFiniteAvx2(values, n) : AllFiniteLoop(values, n);
}
#else
bool AllFinite(const float* values, size_t n) { return AllFiniteLoop(values, n); }
#endif

// True when every byte of `n` is 0 or 1 (no bit but the lowest set in any).
bool AllFlags(const uint8_t* bytes, size_t n) {
  constexpr size_t kBlock = 64;
  uint8_t acc = 0;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    uint8_t block = 0;
    for (size_t j = 0; j < kBlock; ++j) block |= bytes[i + j];
    acc |= block;
  }
  for (; i < n; ++i) acc |= bytes[i];
  return (acc & 0xfe) == 0;
}

}  // namespace

absl::Status CheckFinite(std::span<const float> values, absl::string_view field) {
  // The fast pass decides; only a failing input is walked again for the index.
  if (AllFinite(values.data(), values.size())) return absl::OkStatus();
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": element ", i, " is not finite (", values[i], ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorView> DecodeTensor(const v1::Tensor& tensor, absl::string_view field,
                                        std::span<const int64_t> expected_shape,
                                        bool require_finite) {
  std::span<const int64_t> shape(tensor.shape().data(), tensor.shape().size());
  const int64_t n = NumElements(shape);
  if (n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": invalid shape ", ShapeToString(shape)));
  }
  if (!expected_shape.empty()) {
    bool match = expected_shape.size() == shape.size();
    for (size_t i = 0; match && i < shape.size(); ++i) {
      match = expected_shape[i] == kAnyDim || expected_shape[i] == shape[i];
    }
    if (!match) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": shape ", ShapeToString(shape),
                                                     ", expected ", ShapeToString(expected_shape)));
    }
  }
  const std::string& data = tensor.data();
  if (data.size() != static_cast<size_t>(n) * sizeof(float)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", data.size(), " bytes for shape ",
                                                   ShapeToString(shape), ", expected ",
                                                   n * sizeof(float)));
  }
  TensorView view;
  view.shape_.assign(shape.begin(), shape.end());
  if (reinterpret_cast<uintptr_t>(data.data()) % alignof(float) == 0) {
    view.values_ =
        std::span<const float>(reinterpret_cast<const float*>(data.data()), static_cast<size_t>(n));
  } else {
    view.copy_.resize(static_cast<size_t>(n));
    std::memcpy(view.copy_.data(), data.data(), data.size());
    view.values_ = view.copy_;
  }
  if (require_finite) {
    absl::Status finite = CheckFinite(view.values_, field);
    if (!finite.ok()) return finite;
  }
  return view;
}

void EncodeTensor(std::span<const float> values, std::span<const int64_t> shape, v1::Tensor* out) {
  out->mutable_shape()->Assign(shape.begin(), shape.end());
  out->mutable_data()->assign(reinterpret_cast<const char*>(values.data()),
                              values.size() * sizeof(float));
}

void EncodeVector(std::span<const float> values, v1::Tensor* out) {
  const int64_t shape[] = {static_cast<int64_t>(values.size())};
  EncodeTensor(values, shape, out);
}

void EncodeMatrix(std::span<const float> values, int64_t rows, int64_t cols, v1::Tensor* out) {
  const int64_t shape[] = {rows, cols};
  EncodeTensor(values, shape, out);
}

absl::Status CheckFlagColumn(absl::string_view bytes, int64_t rows, absl::string_view field) {
  if (static_cast<int64_t>(bytes.size()) != rows) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", bytes.size(), " bytes, expected one per row (", rows, ")"));
  }
  if (AllFlags(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
    return absl::OkStatus();
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != 0 && bytes[i] != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": byte ", i, " is ",
                       static_cast<int>(static_cast<uint8_t>(bytes[i])), ", expected 0 or 1"));
    }
  }
  return absl::OkStatus();
}

}  // namespace sac

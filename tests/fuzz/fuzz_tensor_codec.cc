// Fuzz target: the tensor codec (common/tensor_codec.h), which decodes every
// tensor a client sends (insert batches, priorities) or a file holds.
// Input: [u8 flags][u8 n][n x i8 expected dims (-1: any)][u16 rows][sac.v1.Tensor bytes].
// The tensor bytes go through protobuf parsing first, as on the wire.
// Properties: a decoded view matches its shape and bytes exactly, every row is
// inside the values, finiteness is enforced when asked, and encoding the view
// again gives the same message; errors are INVALID_ARGUMENT naming the field.
#include <cmath>
#include <cstring>
#include <vector>

#include "common/tensor_codec.h"
#include "sac/v1/tensor.pb.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using sac::fuzz::Fail;

void CheckError(const absl::Status& s, absl::string_view field) {
  if (s.code() != absl::StatusCode::kInvalidArgument) Fail("error code is not INVALID_ARGUMENT");
  if (s.message().find(field) == absl::string_view::npos) Fail("error does not name the field");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sac::fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.Byte();
  const bool require_finite = flags & 1;
  std::vector<int64_t> expected(in.Byte() % 5);
  for (int64_t& d : expected) d = static_cast<int8_t>(in.Byte());
  const int64_t rows = in.U16();
  const absl::string_view wire = in.Rest();
  sac::v1::Tensor tensor;
  if (!tensor.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return 0;

  auto view = sac::DecodeTensor(tensor, "fuzz.tensor", expected, require_finite);
  if (!view.ok()) {
    CheckError(view.status(), "fuzz.tensor");
  } else {
    const auto& shape = view->shape();
    if (shape.size() != static_cast<size_t>(tensor.shape_size())) Fail("shape rank changed");
    const int64_t n = sac::NumElements(shape);
    if (n < 0 || n != view->num_elements()) Fail("element count does not match the shape");
    if (static_cast<size_t>(n) * sizeof(float) != tensor.data().size()) Fail("size mismatch");
    if (n > 0 &&
        std::memcmp(view->values().data(), tensor.data().data(), tensor.data().size()) != 0) {
      Fail("values differ from the bytes");
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      if (expected[i] != sac::kAnyDim && expected[i] != shape[i]) Fail("shape not enforced");
    }
    if (require_finite) {
      for (float v : view->values()) {
        if (!std::isfinite(v)) Fail("non-finite value accepted");
      }
    }
    if (!shape.empty() && shape[0] > 0) {
      const float* begin = view->values().data();
      const float* end = begin + view->values().size();
      for (int64_t i = 0; i < shape[0] && i < 64; ++i) {
        auto row = view->row(i);
        if (row.size() * static_cast<size_t>(shape[0]) != view->values().size()) Fail("row width");
        if (!row.empty() && (row.data() < begin || row.data() + row.size() > end)) {
          Fail("row outside the values");
        }
      }
    }
    sac::v1::Tensor again;
    sac::EncodeTensor(view->values(), shape, &again);
    if (again.data() != tensor.data() || again.shape_size() != tensor.shape_size()) {
      Fail("re-encoding differs");
    }
    for (int i = 0; i < again.shape_size(); ++i) {
      if (again.shape(i) != tensor.shape(i)) Fail("re-encoded shape differs");
    }
  }
  absl::Status flags_status = sac::CheckFlagColumn(tensor.data(), rows, "fuzz.flags");
  if (!flags_status.ok()) {
    CheckError(flags_status, "fuzz.flags");
  } else {
    if (tensor.data().size() != static_cast<size_t>(rows)) Fail("flag column length not enforced");
    for (char c : tensor.data()) {
      if (c != 0 && c != 1) Fail("flag byte other than 0/1 accepted");
    }
  }
  (void)sac::ShapeToString({tensor.shape().data(), static_cast<size_t>(tensor.shape_size())});
  return 0;
}

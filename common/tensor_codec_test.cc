#include "common/tensor_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

namespace sac {
namespace {

using ::testing::HasSubstr;

TEST(TensorCodec, RoundTrip) {
  const std::vector<float> values = {1.5f, -2.f, 0.f, 3.25f, 1e-30f, -7.f};
  v1::Tensor t;
  EncodeMatrix(values, 2, 3, &t);
  EXPECT_EQ(t.data().size(), 24u);
  auto view = DecodeTensor(t, "obs", std::vector<int64_t>{kAnyDim, 3});
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::vector<float>(view->values().begin(), view->values().end()), values);
  EXPECT_EQ(view->row(1)[0], 3.25f);
}

TEST(TensorCodec, BytesAreLittleEndianFloat32) {
  v1::Tensor t;
  const float one = 1.0f;
  EncodeVector(std::span<const float>(&one, 1), &t);
  // 1.0f is 0x3f800000; little-endian puts the low byte first.
  EXPECT_EQ(t.data(), std::string("\x00\x00\x80\x3f", 4));
}

TEST(TensorCodec, ScalarHasOneElement) {
  v1::Tensor t;
  const float v = 4.f;
  EncodeTensor(std::span<const float>(&v, 1), {}, &t);
  auto view = DecodeTensor(t, "reward");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->num_elements(), 1);
}

TEST(TensorCodec, WrongByteCountNamesField) {
  v1::Tensor t;
  t.add_shape(2);
  t.add_shape(3);
  t.set_data(std::string(20, '\0'));
  auto view = DecodeTensor(t, "next_obs");
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(view.status().message(), HasSubstr("next_obs"));
  EXPECT_THAT(view.status().message(), HasSubstr("20 bytes"));
  EXPECT_THAT(view.status().message(), HasSubstr("expected 24"));
}

TEST(TensorCodec, WrongShapeNamesFieldAndExpectation) {
  v1::Tensor t;
  EncodeMatrix(std::vector<float>(8, 0.f), 2, 4, &t);
  auto view = DecodeTensor(t, "action", std::vector<int64_t>{kAnyDim, 6});
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(), HasSubstr("action: shape [2, 4], expected [*, 6]"));
  auto rank = DecodeTensor(t, "action", std::vector<int64_t>{8});
  EXPECT_FALSE(rank.ok());
}

TEST(TensorCodec, NegativeShapeRejected) {
  v1::Tensor t;
  t.add_shape(-2);
  auto view = DecodeTensor(t, "obs");
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(), HasSubstr("invalid shape"));
}

TEST(TensorCodec, NonFiniteRejectedWithIndex) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> values = {0.f, 1.f, 2.f, bad};
    v1::Tensor t;
    EncodeVector(values, &t);
    auto view = DecodeTensor(t, "reward");
    ASSERT_FALSE(view.ok());
    EXPECT_THAT(view.status().message(), HasSubstr("reward: element 3 is not finite"));
    EXPECT_TRUE(DecodeTensor(t, "reward", {}, /*require_finite=*/false).ok());
  }
}

// The check runs over blocks of 64 values and then a tail: a bad value must be
// found, with its index, at every position of a long column, and the extreme
// finite values (largest, smallest normal and subnormal, both zeros) must pass.
TEST(TensorCodec, CheckFiniteFindsEveryPositionOfALongColumn) {
  std::vector<float> values(200);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) - 100.f;
  values[0] = std::numeric_limits<float>::max();
  values[1] = -std::numeric_limits<float>::max();
  values[2] = std::numeric_limits<float>::min();
  values[3] = std::numeric_limits<float>::denorm_min();
  values[4] = -0.f;
  ASSERT_TRUE(CheckFinite(values, "obs").ok());
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
        std::numeric_limits<float>::signaling_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    for (size_t at : {size_t{0}, size_t{63}, size_t{64}, size_t{127}, size_t{128}, size_t{199}}) {
      std::vector<float> column = values;
      column[at] = bad;
      const absl::Status s = CheckFinite(column, "obs");
      ASSERT_FALSE(s.ok()) << "value " << bad << " at " << at;
      EXPECT_THAT(s.message(), HasSubstr("obs: element " + std::to_string(at) + " is not finite"));
    }
  }
}

TEST(TensorCodec, MisalignedBytesAreCopied) {
  // A view must be correct wherever the bytes sit.
  std::string storage(1 + 8, '\0');
  const float vals[2] = {1.f, 2.f};
  std::memcpy(storage.data() + 1, vals, 8);
  v1::Tensor t;
  t.add_shape(2);
  t.set_data(storage.substr(1));
  auto view = DecodeTensor(t, "x");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->values()[1], 2.f);
}

// A copied or moved view stays valid when the original is gone (under ASan a
// dangling span would be reported). Protobuf keeps bytes fields in aligned
// buffers, so views here point into the message; the owning branch of the
// copy constructor re-points the span at the new copy.
TEST(TensorCodec, CopiedOrMovedViewOutlivesTheOriginal) {
  std::string storage(1 + 12, '\0');
  const float vals[3] = {1.f, 2.f, 3.f};
  std::memcpy(storage.data() + 1, vals, 12);
  v1::Tensor t;
  t.add_shape(3);
  t.set_data(storage.substr(1));
  std::optional<TensorView> copied, assigned, moved;
  {
    auto original = DecodeTensor(t, "x");
    ASSERT_TRUE(original.ok());
    copied.emplace(*original);
    assigned.emplace();
    *assigned = *original;
    moved.emplace(std::move(*original));
  }
  for (const std::optional<TensorView>* v : {&copied, &assigned, &moved}) {
    ASSERT_EQ((*v)->values().size(), 3u);
    EXPECT_EQ((*v)->values()[0], 1.f);
    EXPECT_EQ((*v)->values()[2], 3.f);
  }
}

TEST(TensorCodec, FlagColumn) {
  EXPECT_TRUE(CheckFlagColumn(std::string("\x00\x01\x00", 3), 3, "terminated").ok());
  auto wrong_len = CheckFlagColumn(std::string("\x00\x01", 2), 3, "terminated");
  EXPECT_THAT(wrong_len.message(), HasSubstr("terminated: 2 bytes"));
  auto wrong_val = CheckFlagColumn(std::string("\x00\x02", 2), 2, "truncated");
  EXPECT_THAT(wrong_val.message(), HasSubstr("truncated: byte 1 is 2"));
  // Long columns (checked in blocks of 64 and a tail): every position, and a
  // byte with only a high bit set.
  std::string flags(150, '\0');
  for (size_t i = 0; i < flags.size(); i += 3) flags[i] = '\1';
  ASSERT_TRUE(CheckFlagColumn(flags, 150, "terminated").ok());
  for (size_t at : {size_t{0}, size_t{63}, size_t{64}, size_t{128}, size_t{149}}) {
    for (char bad : {'\2', '\x80', '\xff'}) {
      std::string column = flags;
      column[at] = bad;
      const absl::Status s = CheckFlagColumn(column, 150, "terminated");
      ASSERT_FALSE(s.ok()) << at;
      EXPECT_THAT(s.message(), HasSubstr("terminated: byte " + std::to_string(at) + " is"));
    }
  }
}

}  // namespace
}  // namespace sac

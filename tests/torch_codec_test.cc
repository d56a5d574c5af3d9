#include "tests/torch_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/tensor_codec.h"

namespace sac {
namespace {

TEST(TorchCodec, RoundTrip) {
  torch::manual_seed(0);
  const torch::Tensor a = torch::randn({4, 17});
  v1::Tensor proto;
  TensorToProto(a, &proto);
  EXPECT_EQ(proto.data().size(), 4u * 17 * 4);
  auto b = ProtoToTensor(proto, "obs", std::vector<int64_t>{kAnyDim, 17});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(torch::equal(a, *b));
}

TEST(TorchCodec, NonContiguousAndDoubleInputs) {
  const torch::Tensor a = torch::arange(12, torch::kFloat64).reshape({3, 4}).t();
  v1::Tensor proto;
  TensorToProto(a, &proto);
  auto b = ProtoToTensor(proto, "w");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(torch::equal(a.to(torch::kFloat32), *b));
}

TEST(TorchCodec, RejectsNonFiniteAndWrongShape) {
  torch::Tensor a = torch::zeros({2, 3});
  a[1][2] = std::numeric_limits<float>::quiet_NaN();
  v1::Tensor proto;
  TensorToProto(a, &proto);
  auto b = ProtoToTensor(proto, "next_obs");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), ::testing::HasSubstr("next_obs: element 5 is not finite"));
  auto c = ProtoToTensor(proto, "next_obs", std::vector<int64_t>{2, 4}, false);
  EXPECT_THAT(c.status().message(), ::testing::HasSubstr("expected [2, 4]"));
}

}  // namespace
}  // namespace sac

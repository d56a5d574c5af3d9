#include "common/response_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <optional>

namespace sac {
namespace {

using ::testing::HasSubstr;

TEST(ResponseBudget, BoundsEachClientAndTheProcess) {
  MetricsRegistry registry;
  Gauge* pending = registry.AddGauge("sac_test_pending_bytes", "x")->Get();
  Counter* refused = registry.AddCounter("sac_test_refused_total", "x")->Get();
  ResponseBudget budget(/*total_bytes=*/1000, /*per_client_bytes=*/600, pending, refused);
  auto a1 = budget.Reserve("ipv4:a", 400);
  ASSERT_TRUE(a1.ok());
  auto a2 = budget.Reserve("ipv4:a", 300);  // the client's 600 would be passed
  EXPECT_EQ(a2.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(a2.status().message(), HasSubstr("max_pending_response_bytes_per_client"));
  auto b1 = budget.Reserve("ipv4:b", 500);  // another client is still served
  ASSERT_TRUE(b1.ok());
  auto c1 = budget.Reserve("ipv4:c", 200);  // the process's 1000 would be passed
  EXPECT_EQ(c1.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(c1.status().message(), HasSubstr("server.max_pending_response_bytes ("));
  EXPECT_EQ(budget.pending_bytes(), 900);
  EXPECT_EQ(pending->Value(), 900);
  EXPECT_EQ(refused->Value(), 2);
  a1->reset();  // an answer taken: its bytes are free again
  EXPECT_EQ(budget.pending_bytes(), 500);
  EXPECT_TRUE(budget.Reserve("ipv4:c", 200).ok());  // released at once
  EXPECT_EQ(budget.pending_bytes(), 500);
}

TEST(ResponseBudget, BuiltBuffersAreHeldUntilGrpcFreesEveryCopy) {
  ResponseBudget budget(1 << 20, 1 << 20);
  std::optional<grpc::ByteBuffer> copy;
  {
    auto built = budget.Build("ipv4:a", 1000, [](uint8_t* data) { std::memset(data, 7, 1000); });
    ASSERT_TRUE(built.ok());
    EXPECT_EQ(built->Length(), 1000u);
    EXPECT_EQ(budget.pending_bytes(), 1000);
    copy.emplace(*built);  // shares the slice, as gRPC's send does
  }
  EXPECT_EQ(budget.pending_bytes(), 1000);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(copy->Dump(&slices).ok());
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0].begin()[999], 7);
  slices.clear();
  copy.reset();
  EXPECT_EQ(budget.pending_bytes(), 0);
  // Too large for the client's bound: refused, nothing held.
  auto big = budget.Build("ipv4:a", (1 << 20) + 1, [](uint8_t*) { FAIL() << "filled"; });
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(budget.pending_bytes(), 0);
}

}  // namespace
}  // namespace sac

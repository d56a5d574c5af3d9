// The gRPC service in-process, through the client library and raw stubs:
// tokens on every RPC, limiter waits over gRPC (deadline, shutdown, the
// samples-per-insert band). The clients' own contracts are tested beside them
// (replay_writer_test, replay_sampler_test, shard_health_test).
#include "replay_server/replay_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/server.h"
#include "replay_client/replay_sampler.h"
#include "replay_client/replay_writer.h"
#include "replay_server/test_batches.h"
#include "replay_server/test_shard.h"
#include "tests/testing/process.h"

namespace sac::replay {
namespace {

using testing::kAct;
using testing::kObs;
using testing::MakeBatch;
using testing::Plain;
using testing::Stub;
using testing::TestShard;

TEST(ReplayServiceTest, TokenIsCheckedOnEveryRpc) {
  TestShard s(Plain(), "sesame");
  auto stub = Stub(s.address());
  {
    grpc::ClientContext c;
    v1::ReplayStatus st;
    EXPECT_EQ(stub->GetStatus(&c, {}, &st).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext c;
    v1::SampleRequest r;
    r.set_batch_size(1);
    v1::SampleResponse out;
    EXPECT_EQ(stub->Sample(&c, r, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext c;
    v1::UpdatePrioritiesResponse out;
    EXPECT_EQ(stub->UpdatePriorities(&c, {}, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer wrong");
    auto stream = stub->Insert(&c);
    v1::InsertRequest req;
    *req.mutable_batch() = MakeBatch(0, 1, kObs, kAct);
    stream->Write(req);
    stream->WritesDone();
    v1::InsertResponse ack;
    EXPECT_FALSE(stream->Read(&ack));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(s.shard()->table()->size(), 0);
  {
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer sesame");
    v1::ReplayStatus st;
    EXPECT_TRUE(stub->GetStatus(&c, {}, &st).ok());
  }
  // The client library sends the token from its file.
  const std::string dir = sac::testing::MakeTempDir("token");
  std::ofstream(dir + "/token") << "sesame\n";
  WriterOptions wo;
  wo.address = s.address();
  wo.client.set_auth_token_file(dir + "/token");
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 3, kObs, kAct)).ok());
  EXPECT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(s.shard()->table()->size(), 3);
}

TEST(ReplayServiceTest, SampleWaitsOnTheLimiterUntilItsDeadlineOrShutdown) {
  TestShard s(Plain(1000, /*min_size=*/10));
  auto stub = Stub(s.address());
  v1::SampleRequest r;
  r.set_batch_size(4);
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    v1::SampleResponse out;
    EXPECT_EQ(stub->Sample(&c, r, &out).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // A sampler waiting with a long deadline is released by a shutdown.
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SampleResponse out;
  grpc::Status result;
  absl::Notification done;
  stub->async()->Sample(&c, &r, &out, [&](grpc::Status st) {
    result = std::move(st);
    done.Notify();
  });
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] { return s.shard()->limiter()->Status().blocked_samplers() == 1; }, absl::Seconds(10)));
  s.shard()->StopAdmitting();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(result.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(result.error_message().find("shutting down"), std::string::npos);
}

// An insert beyond the samples-per-insert band waits inside the shard (without
// holding a gRPC thread) until samples catch up; a stop releases it.
TEST(ReplayServiceTest, InsertsWaitOnTheRatioUntilSamplesCatchUp) {
  ShardOptions o = Plain(1000);
  o.limiter = {/*min_size_to_sample=*/1, /*samples_per_insert=*/1, /*error_buffer=*/8};
  TestShard s(o);
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*w)->Write(MakeBatch(uint64_t{10} * i, 4, kObs, kAct)).ok());
  }
  // 4 and 8 rows fit (max diff 9); the third batch (12) waits.
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] { return s.shard()->limiter()->Status().blocked_inserters() == 1; }, absl::Seconds(10)));
  EXPECT_EQ((*w)->Flush(absl::Milliseconds(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*w)->stats().acked_batches, 2u);
  // Other RPCs are served meanwhile: a sample of 4 brings diff to 4, the insert goes in.
  SamplerOptions so;
  so.addresses = {s.address()};
  so.obs_dim = kObs;
  so.act_dim = kAct;
  auto sampler = ReplaySampler::Create(so);
  ASSERT_TRUE((*sampler)->Sample(4, absl::Seconds(10)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(s.shard()->table()->size(), 12);
  // Another wait, ended by the shard stopping: UNAVAILABLE to the stream, no hang.
  for (int i = 3; i < 6; ++i) {
    ASSERT_TRUE((*w)->Write(MakeBatch(uint64_t{10} * i, 4, kObs, kAct)).ok());
  }
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] { return s.shard()->limiter()->Status().blocked_inserters() == 1; }, absl::Seconds(10)));
  s.Stop();
  EXPECT_EQ(s.shard()->limiter()->Status().blocked_inserters(), 0u);
}

}  // namespace
}  // namespace sac::replay

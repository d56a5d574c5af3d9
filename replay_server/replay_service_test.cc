// The gRPC service in-process, through the client library and raw stubs:
// inserts and acks, samples over shards, tokens, limiter waits over gRPC
// (deadline, shutdown), writer reconnects.
#include "replay_server/replay_service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <grpcpp/grpcpp.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/server.h"
#include "replay_server/replay_client.h"
#include "replay_server/test_batches.h"
#include "tests/testing/process.h"

namespace sac::replay {
namespace {

using testing::MakeBatch;

constexpr int64_t kObs = 5, kAct = 2;

// One shard served in-process on 127.0.0.1.
class TestShard {
 public:
  explicit TestShard(ShardOptions options, const std::string& token = "", int port = 0) {
    options.table.spec = {kObs, kAct};
    auto shard = ReplayShard::Create(options, &registry_);
    EXPECT_TRUE(shard.ok()) << shard.status();
    shard_ = std::move(*shard);
    service_ = std::make_unique<ReplayService>(shard_.get(), token);
    v1::ServerConfig config;
    config.set_grpc_address(absl::StrCat("127.0.0.1:", port));
    config.set_metrics_address("");
    config.set_max_message_bytes(64 << 20);
    auto endpoints = StartServing(config, {service_.get()}, &registry_, "");
    EXPECT_TRUE(endpoints.ok()) << endpoints.status();
    endpoints_ = std::move(*endpoints);
  }
  ~TestShard() { Stop(); }
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    shard_->StopAdmitting();
    endpoints_.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    EXPECT_TRUE(shard_->Close().ok());
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", endpoints_.grpc_port); }
  int port() const { return endpoints_.grpc_port; }
  ReplayShard* shard() { return shard_.get(); }
  MetricsRegistry* registry() { return &registry_; }

 private:
  MetricsRegistry registry_;
  std::unique_ptr<ReplayShard> shard_;
  std::unique_ptr<ReplayService> service_;
  ServingEndpoints endpoints_;
  bool stopped_ = false;
};

ShardOptions Plain(int64_t capacity = 10000, uint64_t min_size = 1) {
  ShardOptions o;
  o.table.capacity = capacity;
  o.limiter = {min_size, 0, 0};
  return o;
}

std::unique_ptr<v1::ReplayService::Stub> Stub(const std::string& address) {
  return v1::ReplayService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

TEST(ReplayServiceTest, WriterInsertsAndSamplerDrawsOverTwoShards) {
  TestShard a(Plain()), b(Plain());
  WriterOptions wo;
  wo.address = a.address();
  auto wa = ReplayWriter::Create(wo);
  ASSERT_TRUE(wa.ok());
  wo.address = b.address();
  auto wb = ReplayWriter::Create(wo);
  ASSERT_TRUE(wb.ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*wa)->Write(MakeBatch(1000 * i, 10, kObs, kAct)).ok());  // 100 rows
    ASSERT_TRUE((*wb)->Write(MakeBatch(100000 + 1000 * i, 30, kObs, kAct)).ok());  // 300 rows
  }
  ASSERT_TRUE((*wa)->Flush(absl::Seconds(30)).ok());
  ASSERT_TRUE((*wb)->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ((*wa)->stats().acked_rows, 100u);
  EXPECT_EQ(a.shard()->table()->size(), 100);
  EXPECT_EQ(b.shard()->table()->size(), 300);

  SamplerOptions so;
  so.addresses = {a.address(), b.address()};
  so.seed = 5;
  auto sampler = ReplaySampler::Create(so);
  ASSERT_TRUE(sampler.ok());
  auto status = (*sampler)->Status(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ((*status)[1].size(), 300u);
  EXPECT_EQ((*status)[0].obs_dim(), static_cast<uint32_t>(kObs));
  // The union is sampled uniformly: every (shard, key) of the 400 rows equally often.
  std::map<std::pair<uint32_t, uint64_t>, int64_t> counts;
  const int kDraws = 200;
  for (int d = 0; d < kDraws; ++d) {
    auto s = (*sampler)->Sample(256, absl::Seconds(10));
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->response.key_size(), 256);
    ASSERT_EQ(s->response.batch().obs().shape(0), 256);
    ASSERT_EQ(s->response.batch().obs().data().size(), 256u * kObs * 4);
    EXPECT_EQ(s->response.table_size(), 400u);
    auto prob = DecodeTensor(s->response.probability(), "p");
    ASSERT_TRUE(prob.ok());
    for (int i = 0; i < 256; ++i) {
      EXPECT_NEAR(prob->values()[i], 1.0 / 400, 1e-6);
      ++counts[{s->shard[i], s->response.key(i)}];
      // Row i is the row of that key on that shard.
      const uint64_t base = s->shard[i] == 0 ? 1000 * (s->response.key(i) / 10) + s->response.key(i) % 10
                                             : 100000 + 1000 * (s->response.key(i) / 30) + s->response.key(i) % 30;
      ASSERT_EQ(s->response.batch().policy_version(i), base);
    }
  }
  ASSERT_EQ(counts.size(), 400u);
  const double n = 256.0 * kDraws, e = n / 400;
  double chi = 0;
  for (const auto& [k, c] : counts) chi += (c - e) * (c - e) / e;
  // 399 degrees of freedom: the 0.1% upper point is about 488.
  EXPECT_LT(chi, 488) << chi;
}

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
    result = st;
    done.Notify();
  });
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] { return s.shard()->limiter()->Status().blocked_samplers() == 1; }, absl::Seconds(10)));
  s.shard()->StopAdmitting();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(result.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(result.error_message().find("shutting down"), std::string::npos);
}

TEST(ReplayServiceTest, SampleIsServedOnceInsertsReachTheMinimum) {
  TestShard s(Plain(1000, /*min_size=*/10));
  SamplerOptions so;
  so.addresses = {s.address()};
  auto sampler = ReplaySampler::Create(so);
  absl::StatusOr<MergedSample> got;
  absl::Notification done;
  std::thread t([&] {
    got = (*sampler)->Sample(8, absl::Seconds(60));
    done.Notify();
  });
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 6, kObs, kAct)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  EXPECT_FALSE(done.HasBeenNotified());
  ASSERT_TRUE((*w)->Write(MakeBatch(6, 6, kObs, kAct)).ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  t.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->response.key_size(), 8);
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
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->Write(MakeBatch(10 * i, 4, kObs, kAct)).ok());
  // 4 and 8 rows fit (max diff 9); the third batch (12) waits.
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] { return s.shard()->limiter()->Status().blocked_inserters() == 1; }, absl::Seconds(10)));
  EXPECT_EQ((*w)->Flush(absl::Milliseconds(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*w)->stats().acked_batches, 2u);
  // Other RPCs are served meanwhile: a sample of 4 brings diff to 4, the insert goes in.
  SamplerOptions so;
  so.addresses = {s.address()};
  auto sampler = ReplaySampler::Create(so);
  ASSERT_TRUE((*sampler)->Sample(4, absl::Seconds(10)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(s.shard()->table()->size(), 12);
  // Another wait, ended by the shard stopping: UNAVAILABLE to the stream, no hang.
  for (int i = 3; i < 6; ++i) ASSERT_TRUE((*w)->Write(MakeBatch(10 * i, 4, kObs, kAct)).ok());
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] { return s.shard()->limiter()->Status().blocked_inserters() == 1; }, absl::Seconds(10)));
  s.Stop();
  EXPECT_EQ(s.shard()->limiter()->Status().blocked_inserters(), 0u);
}

TEST(ReplayServiceTest, PrioritizedTableThroughTheSampler) {
  ShardOptions o = Plain(100);
  o.table.selector = "prioritized";
  o.table.priority_exponent = 1.0;
  TestShard s(o);
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 4, kObs, kAct)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  SamplerOptions so;
  so.addresses = {s.address()};
  auto sampler = ReplaySampler::Create(so);
  auto n = (*sampler)->UpdatePriorities(0, {0, 1, 2, 3}, {0, 0, 0, 5}, absl::Seconds(10));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4u);
  auto got = (*sampler)->Sample(32, absl::Seconds(10));
  ASSERT_TRUE(got.ok());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(got->response.key(i), 3u);
  EXPECT_EQ((*sampler)->UpdatePriorities(0, {0}, {-1}, absl::Seconds(10)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The shard goes away and comes back on the same port and data folder: the
// writer reconnects with backoff, sends what was not acked again, and every
// batch it wrote is in the table.
TEST(ReplayServiceTest, WriterReconnectsAndResendsUnackedBatches) {
  const std::string dir = sac::testing::MakeTempDir("reconnect");
  ShardOptions o = Plain(100000);
  o.durable = true;
  o.data_dir = dir;
  o.wal.fsync = FsyncPolicy::kNone;
  auto first = std::make_unique<TestShard>(o);
  const int port = first->port();
  WriterOptions wo;
  wo.address = first->address();
  wo.client.set_initial_backoff_seconds(0.02);
  wo.client.set_max_backoff_seconds(0.2);
  wo.max_in_flight_batches = 4;
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*w)->Write(MakeBatch(100 * i, 5, kObs, kAct)).ok());
  first->Stop();
  first.reset();
  // Written while the shard is down: they wait in the writer (bounded).
  std::thread more([&] {
    for (int i = 20; i < 40; ++i) ASSERT_TRUE((*w)->Write(MakeBatch(100 * i, 5, kObs, kAct)).ok());
  });
  TestShard second(o, "", port);
  more.join();
  ASSERT_TRUE((*w)->Flush(absl::Seconds(60)).ok());
  std::set<uint64_t> ids;
  const int64_t size = second.shard()->table()->size();
  const uint64_t next = second.shard()->table()->next_key();
  for (uint64_t k = next - static_cast<uint64_t>(size); k < next; ++k) {
    v1::TransitionBatch row;
    ASSERT_TRUE(second.shard()->table()->ReadRow(k, &row).ok());
    ids.insert(row.policy_version(0));
  }
  for (int i = 0; i < 40; ++i) {
    for (int r = 0; r < 5; ++r) EXPECT_TRUE(ids.count(100 * i + r)) << 100 * i + r;
  }
  EXPECT_GE((*w)->stats().reconnects, 1u);
  EXPECT_EQ((*w)->stats().acked_batches, 40u);
}

TEST(SplitBatchTest, ProportionalToSizes) {
  absl::BitGen gen(std::seed_seq{1});
  std::vector<int64_t> total(3, 0);
  for (int i = 0; i < 1000; ++i) {
    auto c = SplitBatch(256, {100, 0, 300}, gen);
    ASSERT_EQ(c[0] + c[1] + c[2], 256);
    EXPECT_EQ(c[1], 0);
    for (int j = 0; j < 3; ++j) total[j] += c[j];
  }
  EXPECT_NEAR(total[0] / 256000.0, 0.25, 0.01);
  EXPECT_EQ(SplitBatch(5, {0, 0}, gen), std::vector<int>({0, 0}));
}

}  // namespace
}  // namespace sac::replay

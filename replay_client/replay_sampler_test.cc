// ReplaySampler against real in-process shards: the union of the shards is
// sampled uniformly, the split, limiter waits, priorities, the one validation
// of each shard's answer (a malformed answer is an error naming the shard and
// the field), and a shard that goes away is left out and taken back.
#include "replay_client/replay_sampler.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/metrics.h"
#include "common/server.h"
#include "common/tensor_codec.h"
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
using testing::TestShard;

SamplerOptions Options(std::vector<std::string> addresses) {
  SamplerOptions so;
  so.addresses = std::move(addresses);
  so.obs_dim = kObs;
  so.act_dim = kAct;
  return so;
}

void Fill(const TestShard& shard, uint64_t first_id, int64_t rows) {
  WriterOptions wo;
  wo.address = shard.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeBatch(first_id, rows, kObs, kAct)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
}

// A shard that answers every Sample with well-formed rows spoiled by `spoil`.
class SpoilingShard final : public v1::ReplayService::CallbackService {
 public:
  explicit SpoilingShard(std::function<void(v1::SampleResponse*)> spoil)
      : spoil_(std::move(spoil)) {
    v1::ServerConfig config;
    config.set_grpc_address("127.0.0.1:0");
    config.set_metrics_address("");
    auto endpoints = StartServing(config, {this}, &registry_, "");
    EXPECT_TRUE(endpoints.ok()) << endpoints.status();
    endpoints_ = std::move(*endpoints);
  }
  ~SpoilingShard() override {
    endpoints_.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", endpoints_.grpc_port); }

  grpc::ServerUnaryReactor* Sample(grpc::CallbackServerContext* context,
                                   const v1::SampleRequest* request,
                                   v1::SampleResponse* response) override {
    const int64_t n = request->batch_size();
    *response->mutable_batch() = MakeBatch(0, n, kObs, kAct);
    std::vector<float> probability(static_cast<size_t>(n), 0.01f);
    for (int64_t i = 0; i < n; ++i) response->add_key(static_cast<uint64_t>(i));
    EncodeVector(probability, response->mutable_probability());
    response->set_table_size(100);
    spoil_(response);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::ReplayStatusRequest*,
                                      v1::ReplayStatus* response) override {
    response->set_size(100);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::function<void(v1::SampleResponse*)> spoil_;
  MetricsRegistry registry_;
  ServingEndpoints endpoints_;
};

TEST(ReplaySamplerTest, CreateNeedsShardsAndSizes) {
  EXPECT_EQ(ReplaySampler::Create(Options({})).status().code(), absl::StatusCode::kInvalidArgument);
  SamplerOptions no_sizes;
  no_sizes.addresses = {"127.0.0.1:1"};
  const absl::Status s = ReplaySampler::Create(no_sizes).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("obs_dim/act_dim"), std::string::npos) << s;
}

TEST(ReplaySamplerTest, SampledBatchIsValidatedAndViewedInPlace) {
  TestShard a(Plain()), b(Plain());
  Fill(a, 0, 50);
  Fill(b, 1000, 50);
  auto sampler = ReplaySampler::Create(Options({a.address(), b.address()}));
  ASSERT_TRUE(sampler.ok());
  for (int d = 0; d < 20; ++d) {
    auto s = (*sampler)->Sample(64, absl::Seconds(10));
    ASSERT_TRUE(s.ok()) << s.status();
    const TransitionBatchView& v = s->batch();
    const v1::TransitionBatch& wire = s->response().batch();
    ASSERT_EQ(v.rows(), 64);
    EXPECT_EQ(v.obs_dim(), kObs);
    EXPECT_EQ(v.act_dim(), kAct);
    // The view is the response's batch, row for row.
    EXPECT_EQ(static_cast<const void*>(v.obs()),
              static_cast<const void*>(wire.obs().data().data()));
    for (int i = 0; i < 64; ++i) {
      const uint64_t id = v.policy_version()[i];
      EXPECT_EQ(id, wire.policy_version(i));
      EXPECT_EQ(s->shard()[i], id < 1000 ? 0u : 1u);
      EXPECT_EQ(v.obs()[i * kObs + 1], testing::TestValue(id, 0, 1));
      EXPECT_EQ(v.action()[i * kAct], testing::TestValue(id, 1, 0));
      EXPECT_EQ(v.reward()[i], testing::TestValue(id, 2, 0));
      EXPECT_EQ(v.next_obs()[i * kObs], testing::TestValue(id, 3, 0));
      EXPECT_EQ(v.terminated()[i], id % 7 == 0 ? 1 : 0);
      EXPECT_EQ(v.truncated()[i], id % 5 == 0 ? 1 : 0);
    }
  }
}

TEST(ReplaySamplerTest, RowsOfOtherSizesAreAnErrorNamingTheShard) {
  TestShard s(Plain());
  Fill(s, 0, 20);
  SamplerOptions so = Options({s.address()});
  so.obs_dim = kObs + 1;  // the learner expects other sizes than the shard holds
  auto sampler = ReplaySampler::Create(so);
  ASSERT_TRUE(sampler.ok());
  const absl::Status got = (*sampler)->Sample(8, absl::Seconds(10)).status();
  EXPECT_EQ(got.code(), absl::StatusCode::kInternal) << got;
  EXPECT_NE(got.message().find(absl::StrCat("shard 0 (", s.address(), ")")), std::string::npos)
      << got;
  EXPECT_NE(got.message().find("batch.obs"), std::string::npos) << got;
}

TEST(ReplaySamplerTest, MalformedAnswersAreErrorsNamingTheShardAndField) {
  struct Case {
    const char* field;
    std::function<void(v1::SampleResponse*)> spoil;
  };
  const std::vector<Case> cases = {
      {"batch.reward",
       [](v1::SampleResponse* r) {
         const float nan = std::numeric_limits<float>::quiet_NaN();
         std::memcpy(r->mutable_batch()->mutable_reward()->mutable_data()->data(), &nan, 4);
       }},
      {"batch.terminated",
       [](v1::SampleResponse* r) { (*r->mutable_batch()->mutable_terminated())[0] = 2; }},
      {"batch.action",
       [](v1::SampleResponse* r) {
         r->mutable_batch()->mutable_action()->mutable_data()->resize(4);
       }},
      {"batch.actor_id", [](v1::SampleResponse* r) { r->mutable_batch()->clear_actor_id(); }},
      {"batch.obs: 9 rows, asked for 8",
       [](v1::SampleResponse* r) {
         const int64_t n = r->batch().obs().shape(0) + 1;
         *r->mutable_batch() = MakeBatch(0, n, kObs, kAct);
       }},
      {"key", [](v1::SampleResponse* r) { r->mutable_key()->RemoveLast(); }},
      {"probability", [](v1::SampleResponse* r) { r->clear_probability(); }},
  };
  for (const Case& c : cases) {
    // One spoiling shard alone (its answer is taken as it is) and beside a
    // good one (the answers are merged).
    TestShard good(Plain());
    Fill(good, 0, 100);
    SpoilingShard bad(c.spoil);
    for (bool alone : {true, false}) {
      auto sampler = ReplaySampler::Create(
          Options(alone ? std::vector<std::string>{bad.address()}
                        : std::vector<std::string>{good.address(), bad.address()}));
      ASSERT_TRUE(sampler.ok());
      absl::Status got;
      // Beside the good shard, the bad one may get no rows of a draw.
      for (int d = 0; d < 50 && got.ok(); ++d) {
        got = (*sampler)->Sample(alone ? 8 : 16, absl::Seconds(10)).status();
      }
      const std::string shard = alone ? "shard 0 (" : "shard 1 (";
      EXPECT_EQ(got.code(), absl::StatusCode::kInternal) << c.field << ": " << got;
      EXPECT_TRUE(IsMalformedSampleAnswer(got)) << got;
      EXPECT_NE(got.message().find(shard + bad.address() + "): malformed sample answer"),
                std::string::npos)
          << got;
      if (alone) {
        EXPECT_NE(got.message().find(c.field), std::string::npos) << c.field << ": " << got;
      } else {
        EXPECT_NE(got.message().find(std::string(c.field).substr(0, 5)), std::string::npos)
            << c.field << ": " << got;
      }
    }
  }
}

// A shard that stops is left out (the call that found it fails, later ones
// sample from the others), and it is taken back once a probe finds it again.
TEST(ReplaySamplerTest, AShardThatGoesAwayIsLeftOutAndTakenBack) {
  TestShard a(Plain());
  Fill(a, 0, 100);
  auto b = std::make_unique<TestShard>(Plain());
  Fill(*b, 1000, 100);
  const int port = b->port();
  const std::string b_address = b->address();
  SamplerOptions so = Options({a.address(), b_address});
  so.client.set_initial_backoff_seconds(0.05);
  so.client.set_max_backoff_seconds(0.2);
  auto sampler = ReplaySampler::Create(so);
  ASSERT_TRUE(sampler.ok());
  ASSERT_TRUE((*sampler)->Sample(64, absl::Seconds(10)).ok());
  b->Stop();
  b.reset();
  // Until the sampler finds it gone, a draw that asks it fails naming it.
  absl::Status failed;
  for (int d = 0; d < 50 && failed.ok(); ++d) {
    failed = (*sampler)->Sample(64, absl::Seconds(10)).status();
  }
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_NE(failed.message().find("shard 1"), std::string::npos) << failed;
  EXPECT_FALSE(IsMalformedSampleAnswer(failed)) << failed;
  for (int d = 0; d < 10; ++d) {
    auto s = (*sampler)->Sample(64, absl::Seconds(10));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->response().table_size(), 100u);  // the union is shard 0's rows
    for (uint32_t shard : s->shard()) EXPECT_EQ(shard, 0u);
  }
  auto each = (*sampler)->StatusEach(absl::Seconds(10));
  ASSERT_TRUE(each[0].ok());
  ASSERT_FALSE(each[1].ok());
  EXPECT_NE(each[1].status().message().find("left out until it answers again"), std::string::npos)
      << each[1].status();
  // Back on the same port: a probe finds it, and draws include it again.
  TestShard again(Plain(), "", port);
  Fill(again, 2000, 300);
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] {
        auto s = (*sampler)->Sample(64, absl::Seconds(10));
        return s.ok() && s->response().table_size() == 400u;
      },
      absl::Seconds(30)));
}

TEST(ReplaySamplerTest, DrawsTheUnionOfTwoShardsUniformly) {
  TestShard a(Plain()), b(Plain());
  WriterOptions wo;
  wo.address = a.address();
  auto wa = ReplayWriter::Create(wo);
  ASSERT_TRUE(wa.ok());
  wo.address = b.address();
  auto wb = ReplayWriter::Create(wo);
  ASSERT_TRUE(wb.ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*wa)->Write(MakeBatch(uint64_t{1000} * i, 10, kObs, kAct)).ok());  // 100 rows
    ASSERT_TRUE((*wb)->Write(MakeBatch(100000 + 1000 * i, 30, kObs, kAct)).ok());   // 300 rows
  }
  ASSERT_TRUE((*wa)->Flush(absl::Seconds(30)).ok());
  ASSERT_TRUE((*wb)->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ((*wa)->stats().acked_rows, 100u);
  EXPECT_EQ(a.shard()->table()->size(), 100);
  EXPECT_EQ(b.shard()->table()->size(), 300);

  SamplerOptions so = Options({a.address(), b.address()});
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
    ASSERT_EQ(s->response().key_size(), 256);
    ASSERT_EQ(s->response().batch().obs().shape(0), 256);
    ASSERT_EQ(s->response().batch().obs().data().size(), 256u * kObs * 4);
    EXPECT_EQ(s->response().table_size(), 400u);
    auto prob = DecodeTensor(s->response().probability(), "p");
    ASSERT_TRUE(prob.ok());
    for (int i = 0; i < 256; ++i) {
      EXPECT_NEAR(prob->values()[i], 1.0 / 400, 1e-6);
      ++counts[{s->shard()[i], s->response().key(i)}];
      // Row i is the row of that key on that shard.
      const uint64_t base =
          s->shard()[i] == 0
              ? 1000 * (s->response().key(i) / 10) + s->response().key(i) % 10
              : 100000 + 1000 * (s->response().key(i) / 30) + s->response().key(i) % 30;
      ASSERT_EQ(s->response().batch().policy_version(i), base);
    }
  }
  ASSERT_EQ(counts.size(), 400u);
  const double n = 256.0 * kDraws, e = n / 400;
  double chi = 0;
  for (const auto& [k, c] : counts) chi += (c - e) * (c - e) / e;
  // 399 degrees of freedom: the 0.1% upper point is about 488.
  EXPECT_LT(chi, 488) << chi;
}

TEST(ReplaySamplerTest, SampleWaitsUntilInsertsReachTheMinimum) {
  TestShard s(Plain(1000, /*min_size=*/10));
  SamplerOptions so = Options({s.address()});
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
  EXPECT_EQ(got->response().key_size(), 8);
}

TEST(ReplaySamplerTest, PrioritiesOfAPrioritizedTable) {
  ShardOptions o = Plain(100);
  o.table.selector = "prioritized";
  o.table.priority_exponent = 1.0;
  TestShard s(o);
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 4, kObs, kAct)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  SamplerOptions so = Options({s.address()});
  auto sampler = ReplaySampler::Create(so);
  auto n = (*sampler)->UpdatePriorities(0, {0, 1, 2, 3}, {0, 0, 0, 5}, absl::Seconds(10));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4u);
  auto got = (*sampler)->Sample(32, absl::Seconds(10));
  ASSERT_TRUE(got.ok());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(got->response().key(i), 3u);
  EXPECT_EQ((*sampler)->UpdatePriorities(0, {0}, {-1}, absl::Seconds(10)).status().code(),
            absl::StatusCode::kInvalidArgument);
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

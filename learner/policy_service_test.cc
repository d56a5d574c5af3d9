#include "learner/policy_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common/server.h"
#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"
#include "policy/safetensors.h"
#include "tests/testing/process.h"
#include "tests/testing/stalled_http2_client.h"

namespace sac::learner {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const v1::Policy> PolicyOf(uint64_t version) {
  auto p = std::make_shared<v1::Policy>();
  p->mutable_metadata()->set_version(version);
  p->mutable_metadata()->set_task("Hopper-v5");
  auto* t = p->add_tensors();
  t->set_name("policy.fc0.bias");
  EncodeVector(std::vector<float>(4, static_cast<float>(version)), t->mutable_tensor());
  return p;
}

class PolicyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("policy_service");
    store_ = std::make_unique<PolicyStore>(dir_, &metrics_);
    service_ = std::make_unique<PolicyServiceImpl>(store_.get(), "");
    v1::ServerConfig config;
    config.set_grpc_address("127.0.0.1:0");
    config.set_max_message_bytes(1 << 24);
    auto endpoints = StartServing(config, {service_.get()}, &metrics_, "");
    ASSERT_TRUE(endpoints.ok()) << endpoints.status();
    endpoints_ = std::move(*endpoints);
    auto channel = MakeChannel("127.0.0.1:" + std::to_string(endpoints_.grpc_port), {});
    ASSERT_TRUE(channel.ok());
    stub_ = v1::PolicyService::NewStub(*channel);
  }
  void TearDown() override {
    store_->Shutdown();
    endpoints_.grpc_server->Shutdown();
  }

  std::string dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<PolicyStore> store_;
  std::unique_ptr<PolicyServiceImpl> service_;
  ServingEndpoints endpoints_;
  std::unique_ptr<v1::PolicyService::Stub> stub_;
};

TEST_F(PolicyServiceTest, LatestBeforeAndAfterPublish) {
  grpc::ClientContext c1;
  v1::Policy p;
  grpc::Status s = stub_->GetLatestPolicy(&c1, {}, &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("no policy published yet"));
  ASSERT_TRUE(store_->Publish(PolicyOf(3)).ok());
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->GetLatestPolicy(&c2, {}, &p).ok());
  EXPECT_EQ(p.metadata().version(), 3u);
  // Versions only go up; an old one changes nothing.
  const absl::Status old = store_->Publish(PolicyOf(2));
  EXPECT_EQ(old.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->latest_version(), 3u);
}

TEST_F(PolicyServiceTest, WatchersGetIncreasingVersionsEndingWithTheNewest) {
  ASSERT_TRUE(store_->Publish(PolicyOf(1)).ok());
  grpc::ClientContext context;
  v1::WatchPolicyRequest request;
  auto reader = stub_->WatchPolicy(&context, request);
  v1::Policy p;
  ASSERT_TRUE(reader->Read(&p));  // the current one at once
  EXPECT_EQ(p.metadata().version(), 1u);
  // Many versions while the client does not read: it may skip some, never
  // goes back, and ends with the newest.
  for (uint64_t v = 2; v <= 200; ++v) ASSERT_TRUE(store_->Publish(PolicyOf(v)).ok());
  uint64_t last = 1;
  int received = 0;
  while (last < 200 && reader->Read(&p)) {
    EXPECT_GT(p.metadata().version(), last);
    last = p.metadata().version();
    ++received;
  }
  EXPECT_EQ(last, 200u);
  EXPECT_LE(received, 199);
  // Shutdown of the store ends the stream cleanly.
  store_->Shutdown();
  EXPECT_FALSE(reader->Read(&p));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(PolicyServiceTest, WatchAfterAVersionWaitsForANewerOne) {
  ASSERT_TRUE(store_->Publish(PolicyOf(5)).ok());
  grpc::ClientContext context;
  v1::WatchPolicyRequest request;
  request.set_after_version(5);
  auto reader = stub_->WatchPolicy(&context, request);
  std::thread publisher([&] {
    // Published only once the watcher is registered: no sleep, a condition.
    testing::WaitFor([&] { return store_->latest_version() == 5; }, absl::Seconds(5));
    testing::WaitFor(
        [&] {
          const std::string text = metrics_.Exposition();
          return text.find("sac_learner_policy_watchers 1") != std::string::npos;
        },
        absl::Seconds(10));
    EXPECT_TRUE(store_->Publish(PolicyOf(6)).ok());
  });
  v1::Policy p;
  ASSERT_TRUE(reader->Read(&p));
  EXPECT_EQ(p.metadata().version(), 6u);  // not 5: the client had it
  publisher.join();
  context.TryCancel();
}

TEST_F(PolicyServiceTest, SnapshotsListedAndServedByVersion) {
  grpc::ClientContext c0;
  v1::Snapshot snap;
  v1::GetSnapshotRequest newest;
  EXPECT_EQ(stub_->GetSnapshot(&c0, newest, &snap).error_code(), grpc::StatusCode::NOT_FOUND);
  // Two files as the learner writes them, and a stray file that is ignored.
  for (uint64_t v : {10, 20}) {
    SafetensorsFile f;
    v1::PolicyMetadata m;
    m.set_task("Hopper-v5");
    m.set_obs_dim(11);
    m.set_act_dim(3);
    m.add_hidden_sizes(8);
    m.set_version(v);
    m.set_env_steps(v * 100);
    m.set_updates(v * 7);
    EncodeVector(std::vector<float>(3, -1.f), m.mutable_action_low());
    EncodeVector(std::vector<float>(3, 1.f), m.mutable_action_high());
    f.metadata = PolicyMetadataToStrings(m);
    f.tensors["policy.fc0.bias"] = {{8}, std::vector<float>(8, 0.5f)};
    std::ofstream(dir_ + "/" + PolicyStore::SnapshotFileName(v), std::ios::binary)
        << SerializeSafetensors(f);
  }
  std::ofstream(dir_ + "/notes.txt") << "not a snapshot";
  grpc::ClientContext c1;
  v1::ListSnapshotsResponse list;
  ASSERT_TRUE(stub_->ListSnapshots(&c1, {}, &list).ok());
  ASSERT_EQ(list.snapshots_size(), 2);
  EXPECT_EQ(list.snapshots(0).version(), 10u);
  // The counts from each file's header, as GetSnapshot gives them.
  EXPECT_EQ(list.snapshots(0).env_steps(), 1000u);
  EXPECT_EQ(list.snapshots(0).updates(), 70u);
  EXPECT_EQ(list.snapshots(1).version(), 20u);
  EXPECT_EQ(list.snapshots(1).env_steps(), 2000u);
  EXPECT_EQ(list.snapshots(1).updates(), 140u);
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->GetSnapshot(&c2, newest, &snap).ok());
  EXPECT_EQ(snap.metadata().version(), 20u);
  EXPECT_EQ(snap.info().env_steps(), 2000u);
  EXPECT_EQ(snap.info().updates(), 140u);
  EXPECT_EQ(snap.info().SerializeAsString(), list.snapshots(1).SerializeAsString());
  auto parsed = ParseSafetensors(snap.safetensors());
  ASSERT_TRUE(parsed.ok());
  grpc::ClientContext c3;
  v1::GetSnapshotRequest missing;
  missing.set_version(15);
  grpc::Status s = stub_->GetSnapshot(&c3, missing, &snap);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("on disk: 10, 20"));
  // A pinned version (an evaluated one) outlives the retention.
  const uint64_t pinned[] = {10};
  store_->PruneSnapshots(1, pinned);
  grpc::ClientContext c4;
  ASSERT_TRUE(stub_->ListSnapshots(&c4, {}, &list).ok());
  ASSERT_EQ(list.snapshots_size(), 2);
  EXPECT_EQ(list.snapshots(0).version(), 10u);
  store_->PruneSnapshots(1);
  grpc::ClientContext c5;
  ASSERT_TRUE(stub_->ListSnapshots(&c5, {}, &list).ok());
  ASSERT_EQ(list.snapshots_size(), 1);
  EXPECT_EQ(list.snapshots(0).version(), 20u);
}

// Clients that never read their answers (stalled HTTP/2 connections) ask for
// snapshots and policies and watch the stream, again and again: the memory
// those answers hold stays within the budget (per client and in all), the
// calls past it are refused, and a well-behaved client is served meanwhile.
TEST(PolicyServiceBudgetTest, UnreadAnswersStayWithinTheBudget) {
  const std::string dir = testing::MakeTempDir("policy_budget");
  MetricsRegistry metrics;
  PolicyStore store(dir, &metrics);
  constexpr int64_t kTotal = 8 << 20, kPerClient = 2 << 20;
  Counter* refused = metrics.AddCounter("sac_test_refused_total", "x")->Get();
  ResponseBudget budget(kTotal, kPerClient, nullptr, refused);
  PolicyServiceImpl service(&store, "", &budget);
  v1::ServerConfig config;
  config.set_grpc_address("127.0.0.1:0");
  auto endpoints = StartServing(config, {&service}, &metrics, "");
  ASSERT_TRUE(endpoints.ok()) << endpoints.status();
  // A policy of 400 KB, and its snapshot file of the same size.
  auto policy = std::make_shared<v1::Policy>();
  policy->mutable_metadata()->set_version(1);
  EncodeVector(std::vector<float>(100000, 0.25f), policy->add_tensors()->mutable_tensor());
  ASSERT_TRUE(store.Publish(policy).ok());
  SafetensorsFile f;
  v1::PolicyMetadata m;
  m.set_task("Hopper-v5");
  m.set_obs_dim(11);
  m.set_act_dim(3);
  m.set_version(1);
  EncodeVector(std::vector<float>(3, -1.f), m.mutable_action_low());
  EncodeVector(std::vector<float>(3, 1.f), m.mutable_action_high());
  f.metadata = PolicyMetadataToStrings(m);
  f.tensors["policy.fc0.weight"] = {{100000}, std::vector<float>(100000, 0.5f)};
  std::ofstream(dir + "/" + PolicyStore::SnapshotFileName(1), std::ios::binary)
      << SerializeSafetensors(f);

  std::vector<std::unique_ptr<testing::StalledClient>> stalled;
  const std::string any = v1::GetSnapshotRequest().SerializeAsString();
  constexpr int kClients = 6, kCalls = 30;
  for (int k = 0; k < kClients; ++k) {
    stalled.push_back(std::make_unique<testing::StalledClient>());
    ASSERT_TRUE(stalled.back()->Connect(endpoints->grpc_port));
    for (int i = 0; i < kCalls; ++i) {
      const char* method = i % 3 == 0   ? "/sac.v1.PolicyService/GetSnapshot"
                           : i % 3 == 1 ? "/sac.v1.PolicyService/GetLatestPolicy"
                                        : "/sac.v1.PolicyService/WatchPolicy";
      ASSERT_TRUE(stalled.back()->Call(method, any));
    }
  }
  // Every call was served (its answer held) or refused: with 400 KB answers
  // each client holds at most 5 (2 MiB), and all of them at most 20 (8 MiB).
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        const int64_t held = budget.pending_bytes() / 400000;
        return held + static_cast<int64_t>(refused->Value()) >= int64_t{kClients} * kCalls;
      },
      absl::Seconds(30)))
      << "pending " << budget.pending_bytes() << " refused " << refused->Value();
  EXPECT_LE(budget.pending_bytes(), kTotal);
  EXPECT_GT(budget.pending_bytes(), kTotal / 2);
  // A well-behaved client on a connection of its own: its answers are read,
  // so they only pass through the budget. (It needs room left: with the
  // process bound reached it would be refused as well; per-client bounds keep
  // a few stalled clients from reaching it.)
  auto channel = MakeChannel("127.0.0.1:" + std::to_string(endpoints->grpc_port), {});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::PolicyService::NewStub(*channel);
  stalled.resize(2);  // four clients leave: their answers are freed
  ASSERT_TRUE(testing::WaitFor([&] { return budget.pending_bytes() <= 2 * kPerClient; },
                               absl::Seconds(30)));
  for (int i = 0; i < 10; ++i) {
    grpc::ClientContext c;
    v1::Snapshot snap;
    ASSERT_TRUE(stub->GetSnapshot(&c, {}, &snap).ok()) << i;
    EXPECT_EQ(snap.metadata().version(), 1u);
    grpc::ClientContext c2;
    v1::Policy p;
    ASSERT_TRUE(stub->GetLatestPolicy(&c2, {}, &p).ok()) << i;
    EXPECT_EQ(p.tensors_size(), 1);
  }
  stalled.clear();
  EXPECT_TRUE(testing::WaitFor([&] { return budget.pending_bytes() == 0; }, absl::Seconds(30)));
  store.Shutdown();
  endpoints->grpc_server->Shutdown();
}

}  // namespace
}  // namespace sac::learner

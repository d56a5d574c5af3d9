// Bad input to the real sac-replay: each kind gets the right status and a
// message naming the field, and the table is unchanged (a bad batch inserts
// nothing; acks before it stand). Also bad configs at start.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/tensor_codec.h"
#include "replay_server/test_batches.h"
#include "sac/v1/replay.grpc.pb.h"
#include "tests/replay/binary_dir.h"
#include "tests/testing/process.h"
#include "tests/testing/raw_grpc.h"

namespace sac::replay {
namespace {

using sac::testing::ChildProcess;
using testing::MakeBatch;

constexpr int64_t kObs = 11, kAct = 3;  // Hopper-v5

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EnsureBinaryDir();
    dir_ = sac::testing::MakeTempDir("replay_bad");
    auto p = ChildProcess::Start(
        {sac::testing::BinaryPath("sac-replay"), "--task=Hopper-v5", "--capacity=1000",
         "--shard_index=3", "--rate_limiter.min_size_to_sample=1",
         "--rate_limiter.samples_per_insert=0", "--durability.data_dir=" + dir_ + "/data",
         "--server.max_message_bytes=1048576", "--server.port_file=" + dir_ + "/ports"},
        dir_ + "/log");
    ASSERT_TRUE(p.ok());
    shard_ = std::move(*p);
    auto ports = sac::testing::WaitForPortFile(dir_ + "/ports", absl::Seconds(30), shard_.get());
    ASSERT_TRUE(ports.ok()) << ports.status() << shard_->ReadLog();
    ports_ = *ports;
    stub_ = v1::ReplayService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", ports_.grpc),
                                                           grpc::InsecureChannelCredentials()));
  }

  static void Deadline(grpc::ClientContext* c) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  // Sends `batches` on one stream; returns the acks received and the final status.
  grpc::Status Insert(const std::vector<v1::InsertRequest>& requests, int* acks) {
    grpc::ClientContext c;
    Deadline(&c);
    auto stream = stub_->Insert(&c);
    for (const auto& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
    v1::InsertResponse ack;
    *acks = 0;
    while (stream->Read(&ack)) ++*acks;
    return stream->Finish();
  }

  v1::ReplayStatus Status() {
    grpc::ClientContext c;
    Deadline(&c);
    v1::ReplayStatus st;
    EXPECT_TRUE(stub_->GetStatus(&c, {}, &st).ok());
    return st;
  }

  static v1::InsertRequest Request(uint64_t seq, v1::TransitionBatch batch) {
    v1::InsertRequest r;
    r.set_sequence(seq);
    *r.mutable_batch() = std::move(batch);
    return r;
  }

  std::string dir_;
  std::unique_ptr<ChildProcess> shard_;
  sac::testing::Ports ports_;
  std::unique_ptr<v1::ReplayService::Stub> stub_;
};

TEST_F(BadInputTest, EachBadBatchIsRefusedNamingTheFieldAndChangesNothing) {
  int acks = 0;
  ASSERT_TRUE(Insert({Request(1, MakeBatch(0, 10, kObs, kAct))}, &acks).ok());
  EXPECT_EQ(acks, 1);
  const v1::ReplayStatus before = Status();
  ASSERT_EQ(before.size(), 10u);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    std::string name;
    std::function<void(v1::TransitionBatch*)> spoil;
    grpc::StatusCode code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"obs width", [](auto* b) { b->mutable_obs()->set_shape(1, kObs + 1); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.obs"},
      {"obs bytes", [](auto* b) { b->mutable_obs()->mutable_data()->resize(8); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.obs"},
      {"action rows", [](auto* b) { b->mutable_action()->set_shape(0, 3); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.action"},
      {"reward nan",
       [nan](auto* b) { std::memcpy(b->mutable_reward()->mutable_data()->data() + 8, &nan, 4); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.reward"},
      {"next_obs inf",
       [inf](auto* b) { std::memcpy(b->mutable_next_obs()->mutable_data()->data(), &inf, 4); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.next_obs"},
      {"terminated byte", [](auto* b) { (*b->mutable_terminated())[1] = 7; },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.terminated"},
      {"truncated length", [](auto* b) { b->mutable_truncated()->append("\1"); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.truncated"},
      {"policy_version count", [](auto* b) { b->mutable_policy_version()->RemoveLast(); },
       grpc::StatusCode::INVALID_ARGUMENT, "batch.policy_version"},
      {"actor_id count", [](auto* b) { b->add_actor_id(1); }, grpc::StatusCode::INVALID_ARGUMENT,
       "batch.actor_id"},
      {"empty batch", [](auto* b) { b->Clear(); }, grpc::StatusCode::INVALID_ARGUMENT, "batch.obs"},
  };
  uint64_t seq = 100;
  for (const Case& c : cases) {
    // A good batch, then the bad one, then another good one on the same stream.
    v1::TransitionBatch bad = MakeBatch(5000, 4, kObs, kAct);
    c.spoil(&bad);
    const grpc::Status s =
        Insert({Request(seq, MakeBatch(1000 + seq, 2, kObs, kAct)), Request(seq + 1, bad),
                Request(seq + 2, MakeBatch(9000, 2, kObs, kAct))},
               &acks);
    seq += 10;
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.name << ": " << s.error_message();
    EXPECT_EQ(acks, 1) << c.name;  // the good batch before it stands
  }
  // Sequence numbers must go up.
  grpc::Status s = Insert(
      {Request(5, MakeBatch(0, 1, kObs, kAct)), Request(5, MakeBatch(0, 1, kObs, kAct))}, &acks);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("sequence"), std::string::npos) << s.error_message();
  EXPECT_EQ(acks, 1);
  // Over the message limit (1 MiB): refused by gRPC before it reaches the table.
  s = Insert({Request(1, MakeBatch(0, 12000, kObs, kAct))}, &acks);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(acks, 0);

  // Only the good batches went in: 10 + one per case + the sequence test's first.
  const v1::ReplayStatus after = Status();
  EXPECT_EQ(after.size(), 10u + 2 * cases.size() + 1);
  EXPECT_EQ(after.inserts_total(), after.size());
}

TEST_F(BadInputTest, BadSampleAndPriorityRequests) {
  int acks = 0;
  ASSERT_TRUE(Insert({Request(1, MakeBatch(0, 20, kObs, kAct))}, &acks).ok());
  auto sample = [&](uint32_t n) {
    grpc::ClientContext c;
    Deadline(&c);
    v1::SampleRequest r;
    r.set_batch_size(n);
    v1::SampleResponse out;
    return stub_->Sample(&c, r, &out);
  };
  grpc::Status s = sample(0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("batch_size"), std::string::npos) << s.error_message();
  s = sample(1001);  // more than the table can ever hold
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("batch_size"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("capacity"), std::string::npos) << s.error_message();
  EXPECT_TRUE(sample(64).ok());
  {
    // Bytes that are no SampleRequest (field 1 as a truncated length-delimited
    // field), sent raw: the service parses Sample requests itself.
    grpc::GenericStub generic(grpc::CreateChannel(absl::StrCat("127.0.0.1:", ports_.grpc),
                                                  grpc::InsecureChannelCredentials()));
    grpc::ClientContext c;
    Deadline(&c);
    const char garbage[] = {0x0a, 0x7f, 0x01};
    grpc::Slice slice(garbage, sizeof(garbage));
    grpc::ByteBuffer request(&slice, 1), response;
    absl::Notification done;
    grpc::Status raw_status;
    generic.UnaryCall(&c, "/sac.v1.ReplayService/Sample", grpc::StubOptions(), &request, &response,
                      [&](grpc::Status st) {
                        raw_status = std::move(st);
                        done.Notify();
                      });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    EXPECT_EQ(raw_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(raw_status.error_message().find("SampleRequest"), std::string::npos)
        << raw_status.error_message();
  }

  grpc::ClientContext c;
  Deadline(&c);
  v1::UpdatePrioritiesRequest up;
  up.add_key(1);
  EncodeVector(std::vector<float>{1.0f}, up.mutable_priority());
  v1::UpdatePrioritiesResponse out;
  s = stub_->UpdatePriorities(&c, up, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);  // uniform table
  EXPECT_NE(s.error_message().find("selector"), std::string::npos) << s.error_message();

  const v1::ReplayStatus st = Status();
  EXPECT_EQ(st.size(), 20u);
  EXPECT_EQ(st.samples_total(), 64u);
  // Refusals are counted on /metrics, by shard.
  auto metrics = sac::testing::HttpGet(ports_.metrics, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("sac_replay_table_size{shard=\"3\"} 20"), std::string::npos) << *metrics;
  EXPECT_NE(metrics->find("sac_replay_rejected_requests_total{shard=\"3\",rpc=\"sample\"} 3"),
            std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("sac_replay_rate_limiter_wait_seconds_bucket"), std::string::npos);
}

// Bytes that do not parse, on every RPC: INVALID_ARGUMENT naming the message
// type (gRPC's generated handlers would say UNIMPLEMENTED), and an Insert stream
// with such a message in it ends with that error, never OK: the batches before
// it are acked and stored, nothing after it is.
TEST_F(BadInputTest, UnparseableRequestsAreInvalidArgumentNamingTheType) {
  const std::string address = absl::StrCat("127.0.0.1:", ports_.grpc);
  const std::string garbage = sac::testing::UnparseableBytes();
  v1::InsertRequest probe;
  ASSERT_FALSE(probe.ParseFromString(garbage));
  const std::string service = "/sac.v1.ReplayService/";
  constexpr int kStreams = 20;
  uint64_t seq = 1;
  for (int i = 0; i < kStreams; ++i) {
    std::vector<std::string> responses;
    const grpc::Status s = sac::testing::RawBidiCall(
        address, service + "Insert",
        {Request(seq, MakeBatch(uint64_t{100} * i, 3, kObs, kAct)).SerializeAsString(), garbage,
         Request(seq + 1, MakeBatch(uint64_t{100} * i + 50, 4, kObs, kAct)).SerializeAsString()},
        &responses);
    seq += 2;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << i << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("sac.v1.InsertRequest"), std::string::npos)
        << s.error_message();
    EXPECT_EQ(responses.size(), 1u) << i;  // the batch before the garbage
  }
  // Garbage alone, and garbage first.
  for (const auto& stream : std::vector<std::vector<std::string>>{
           {garbage}, {garbage, Request(seq, MakeBatch(0, 2, kObs, kAct)).SerializeAsString()}}) {
    std::vector<std::string> responses;
    const grpc::Status s =
        sac::testing::RawBidiCall(address, service + "Insert", stream, &responses);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(responses.empty());
  }
  for (const auto& [method, type] : std::vector<std::pair<std::string, std::string>>{
           {"Sample", "sac.v1.SampleRequest"},
           {"UpdatePriorities", "sac.v1.UpdatePrioritiesRequest"},
           {"GetStatus", "sac.v1.ReplayStatusRequest"}}) {
    const grpc::Status s = sac::testing::RawUnaryCall(address, service + method, garbage);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(type), std::string::npos)
        << method << ": " << s.error_message();
  }
  // Exactly the batches before the garbage are stored.
  const v1::ReplayStatus after = Status();
  EXPECT_EQ(after.size(), 3u * kStreams);
  EXPECT_EQ(after.inserts_total(), 3u * kStreams);
}

// Bad configs are refused at start with exit code 2 and one line naming the field.
TEST(ReplayConfigTest, BadConfigsExitWithCode2) {
  EnsureBinaryDir();
  const std::string dir = sac::testing::MakeTempDir("replay_cfg");
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), sac::testing::BinaryPath("sac-replay"));
    auto p = ChildProcess::Start(args, dir + "/log");
    EXPECT_TRUE(p.ok());
    auto status = (*p)->WaitForExit(absl::Seconds(30));
    EXPECT_TRUE(status.has_value());
    return std::make_pair(WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, (*p)->ReadLog());
  };
  auto [code, log] = run({"--task=Humanoid-v5", "--memory_limit_bytes=1000000", "--validate_only"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("memory_limit_bytes"), std::string::npos) << log;
  std::tie(code, log) = run({"--task=NoSuchTask-v5", "--validate_only"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("task"), std::string::npos) << log;
  std::tie(code, log) = run({"--task=Ant-v5", "--durability.fsync=sometimes", "--validate_only"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("durability.fsync"), std::string::npos) << log;
  std::tie(code, log) = run({"--task=Ant-v5", "--validate_only"});
  EXPECT_EQ(code, 0) << log;
  EXPECT_NE(log.find("obs_dim: 105"), std::string::npos) << log;
  // The shard takes a task id without its "-v5" too.
  std::tie(code, log) = run({"--task=Hopper", "--validate_only"});
  EXPECT_EQ(code, 0) << log;
  EXPECT_NE(log.find("obs_dim: 11"), std::string::npos) << log;
  std::tie(code, log) = run({"--task=Hopper-v4", "--validate_only"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("unknown task 'Hopper-v4'"), std::string::npos) << log;
}

}  // namespace
}  // namespace sac::replay

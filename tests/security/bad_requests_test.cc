// Bytes that parse as no request, sent to every RPC of every process of a real
// cluster (sac-replay, sac-learner, sac-actor): each answers INVALID_ARGUMENT
// naming the message type it expected (gRPC's generated handlers would answer
// UNIMPLEMENTED, and an Insert stream would end OK), and goes on serving.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/process.h"
#include "tests/testing/raw_grpc.h"
#include "tools/sacctl/clients.h"
#include "tools/sacctl/local_cluster.h"

namespace sac {
namespace {

using sacctl::LocalCluster;

std::string BinDir() {
  const std::string p = testing::BinaryPath("sac-actor");
  return p.substr(0, p.rfind('/'));
}

TEST(BadRequests, EveryRpcOfEveryProcessRefusesUnparseableBytesAsInvalidArgument) {
  v1::LocalCommand command;
  command.set_task("InvertedPendulum-v5");
  command.set_variant("v2");
  command.set_shards(1);
  command.set_actors(1);
  command.set_envs_per_actor(1);
  command.set_run_dir(testing::MakeTempDir("bad_requests"));
  command.set_seed(3);
  command.set_replay_capacity(100000);
  command.set_min_replay_size(200);
  command.set_random_steps(200);
  command.set_samples_per_insert(0);
  command.set_eval_every_env_steps(0);
  command.set_learner_threads(1);
  command.set_device("cpu");
  command.set_durability(false);
  command.add_hidden_sizes(16);
  command.add_hidden_sizes(16);
  command.add_learner_flag("--sac.batch_size=32");
  command.add_learner_flag("--publish_every_updates=10");
  auto cluster = LocalCluster::Start(command, BinDir());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  sacctl::ClientOptions client;
  client.timeout = absl::Seconds(5);
  // A published policy, so that the policy RPCs would have something to send.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto s = sacctl::GetLearnerStatus(c.learner().address(), client);
        return s.ok() && s->policy_version() > 0;
      },
      absl::Seconds(120), absl::Milliseconds(100)))
      << c.learner().child->ReadLog();

  const std::string garbage = testing::UnparseableBytes();
  struct Rpc {
    std::string address;
    std::string method;
    std::string type;  // the request type the message must name
  };
  const std::string replay = c.shard(0).address(), learner = c.learner().address(),
                    actor = c.actor(0).address();
  const std::vector<Rpc> unary = {
      {replay, "/sac.v1.ReplayService/Sample", "sac.v1.SampleRequest"},
      {replay, "/sac.v1.ReplayService/UpdatePriorities", "sac.v1.UpdatePrioritiesRequest"},
      {replay, "/sac.v1.ReplayService/GetStatus", "sac.v1.ReplayStatusRequest"},
      {learner, "/sac.v1.PolicyService/GetLatestPolicy", "sac.v1.GetLatestPolicyRequest"},
      {learner, "/sac.v1.PolicyService/ListSnapshots", "sac.v1.ListSnapshotsRequest"},
      {learner, "/sac.v1.PolicyService/GetSnapshot", "sac.v1.GetSnapshotRequest"},
      {learner, "/sac.v1.LearnerService/GetStatus", "sac.v1.LearnerStatusRequest"},
      {actor, "/sac.v1.ActorService/GetStatus", "sac.v1.ActorStatusRequest"},
  };
  for (const Rpc& r : unary) {
    const grpc::Status s = testing::RawUnaryCall(r.address, r.method, garbage);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << r.method << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(r.type), std::string::npos)
        << r.method << ": " << s.error_message();
  }
  int messages = -1;
  grpc::Status s = testing::RawServerStreamCall(learner, "/sac.v1.PolicyService/WatchPolicy",
                                                garbage, &messages);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("sac.v1.WatchPolicyRequest"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(messages, 0);
  s = testing::RawBidiCall(replay, "/sac.v1.ReplayService/Insert", {garbage});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("sac.v1.InsertRequest"), std::string::npos) << s.error_message();

  // Every process still serves well-formed requests.
  EXPECT_TRUE(sacctl::GetReplayStatus(replay, client).ok());
  EXPECT_TRUE(sacctl::GetLearnerStatus(learner, client).ok());
  EXPECT_TRUE(sacctl::GetActorStatus(actor, client).ok());
  EXPECT_TRUE(testing::RawUnaryCall(learner, "/sac.v1.PolicyService/GetLatestPolicy", "").ok());
  // A watch stream delivers the current version, then waits (until the deadline).
  s = testing::RawServerStreamCall(learner, "/sac.v1.PolicyService/WatchPolicy",
                                   v1::WatchPolicyRequest().SerializeAsString(), &messages,
                                   absl::Seconds(2));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_GE(messages, 1);
  c.Stop();
}

}  // namespace
}  // namespace sac

// ShardHealth against a real in-process shard, a port where nothing listens,
// and a socket that accepts connections but never answers (a hung shard).
#include "replay_client/shard_health.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
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

// A listening TCP socket that never accepts: connections complete in the
// kernel, and no call on them is ever answered.
class HungPort {
 public:
  HungPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~HungPort() { close(fd_); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(ShardHealthTest, AShardLeftOutIsTakenBackWhenAProbeAnswers) {
  TestShard s(Plain());
  WriterOptions wo;
  wo.address = s.address();
  auto w = ReplayWriter::Create(wo);
  ASSERT_TRUE((*w)->Write(MakeBatch(0, 7, kObs, kAct)).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(30)).ok());
  auto stub = Stub(s.address());
  ShardHealth health({stub.get()}, {s.address()}, "", absl::Seconds(10), absl::Seconds(10));
  std::vector<bool> up;
  std::vector<uint64_t> sizes;
  health.RecordSize(0, 3);
  health.Get(&up, &sizes);
  EXPECT_TRUE(up[0]);
  EXPECT_EQ(sizes[0], 3u);
  EXPECT_TRUE(health.DownError(0).ok());

  health.MarkDown(0, "connection reset");
  health.Get(&up, &sizes);
  EXPECT_FALSE(up[0]);
  EXPECT_EQ(sizes[0], 0u);
  const absl::Status down = health.DownError(0);
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(down.message().find(absl::StrCat("shard 0 (", s.address(), ")")), std::string::npos)
      << down;
  EXPECT_NE(down.message().find("connection reset"), std::string::npos) << down;
  const absl::Status none = health.NoShardError();
  EXPECT_EQ(none.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(none.message().find("no replay shard answers"), std::string::npos) << none;

  // Its backoff (10 s) has not passed: nothing is due yet.
  health.ProbeDue(absl::Seconds(5));
  ASSERT_TRUE(health.AwaitProbes(absl::Seconds(10)));
  health.Get(&up, &sizes);
  EXPECT_FALSE(up[0]);
  // A probe now: the shard answers, with its size.
  health.Probe(0, absl::Seconds(5));
  ASSERT_TRUE(health.AwaitProbes(absl::Seconds(10)));
  health.Get(&up, &sizes);
  EXPECT_TRUE(up[0]);
  EXPECT_EQ(sizes[0], 7u);
  EXPECT_TRUE(health.DownError(0).ok());
}

TEST(ShardHealthTest, AShardThatDoesNotAnswerStaysOutWithBackoff) {
  const std::string gone = absl::StrCat("127.0.0.1:", sac::testing::PickFreePort());
  auto stub = Stub(gone);
  ShardHealth health({stub.get()}, {gone}, "", absl::Milliseconds(20), absl::Seconds(1));
  health.MarkDown(0, "first");
  // Due once the backoff has passed: probed, still unreachable, still out,
  // with the probe's error.
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] {
        health.ProbeDue(absl::Seconds(5));
        EXPECT_TRUE(health.AwaitProbes(absl::Seconds(10)));
        return health.DownError(0).message().find("first") == std::string::npos;
      },
      absl::Seconds(30)));
  std::vector<bool> up;
  std::vector<uint64_t> sizes;
  health.Get(&up, &sizes);
  EXPECT_FALSE(up[0]);
  EXPECT_EQ(health.DownError(0).code(), absl::StatusCode::kUnavailable);
}

TEST(ShardHealthTest, AHungShardStaysOutAndItsProbeEndsWithTheObject) {
  HungPort hung;
  auto stub = Stub(hung.address());
  {
    // A probe within its deadline finds no answer: the shard stays out.
    ShardHealth health({stub.get()}, {hung.address()}, "", absl::Seconds(10), absl::Seconds(10));
    health.MarkDown(0, "first");
    health.Probe(0, absl::Milliseconds(200));
    ASSERT_TRUE(health.AwaitProbes(absl::Seconds(30)));
    const absl::Status down = health.DownError(0);
    EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(down.message().find("first"), std::string::npos) << down;
  }
  // A probe with a long deadline is cancelled by the destructor, which waits
  // for its callback.
  const absl::Time start = absl::Now();
  {
    ShardHealth health({stub.get()}, {hung.address()}, "", absl::Seconds(60), absl::Seconds(60));
    health.MarkDown(0, "hung");
    health.Probe(0, absl::Seconds(60));
    EXPECT_FALSE(health.AwaitProbes(absl::Milliseconds(100)));
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

}  // namespace
}  // namespace sac::replay

// Clients that ask for large samples and never read the answers, against the
// real sac-replay: its memory stays within the configured bound on pending
// responses (server.max_pending_response_bytes*), the calls past it are
// refused, a well-behaved client is served meanwhile, and the memory goes
// back once the stalled clients leave.
//
// A stalled client is a raw HTTP/2 connection that announces a stream window
// of 0 and never sends a WINDOW_UPDATE: the server can send it no byte of any
// answer, which is what a client that does not read does to it (gRPC's own
// clients always read, so they cannot play this part).
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "replay_server/test_batches.h"
#include "sac/v1/replay.grpc.pb.h"
#include "tests/replay/binary_dir.h"
#include "tests/testing/process.h"
#include "tests/testing/stalled_http2_client.h"

namespace sac::replay {
namespace {

using sac::testing::ChildProcess;
using sac::testing::StalledClient;

constexpr int64_t kObs = 348, kAct = 17;  // Humanoid-v5: 2.9 KB a row
constexpr int64_t kTotalBound = 64 << 20, kClientBound = 16 << 20;
constexpr uint32_t kHostileBatch = 2500;  // 7.2 MB an answer

int64_t ResidentBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key) {
    if (key == "VmRSS:" && in >> kb >> unit) return kb * 1024;
  }
  return -1;
}

// The value of an unlabelled series in Prometheus text; -1 when absent.
double Metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  double v = -1;
  const size_t start = at + name.size() + 2;
  (void)absl::SimpleAtod(text.substr(start, text.find('\n', start) - start), &v);
  return v;
}

// The shard's environment. ASan keeps freed memory in a quarantine (256 MB by
// default) before reusing it, so an instrumented shard's RSS grows with every
// allocation, bounded or not: there it runs without the quarantine (every
// other check stays on), as in the fault tests.
std::vector<std::string> ShardEnvironment() {
#if defined(__SANITIZE_ADDRESS__)
  const char* inherited = getenv("ASAN_OPTIONS");
  return {absl::StrCat("ASAN_OPTIONS=", inherited ? inherited : "", inherited ? ":" : "",
                       "quarantine_size_mb=0")};
#else
  return {};
#endif
}

TEST(UnreadAnswers, ShardMemoryStaysWithinTheBoundAndAWellBehavedClientIsServed) {
  EnsureBinaryDir();
  const std::string dir = sac::testing::MakeTempDir("unread_answers");
  auto started = ChildProcess::Start(
      {sac::testing::BinaryPath("sac-replay"), "--task=Humanoid-v5", "--capacity=20000",
       "--rate_limiter.min_size_to_sample=1", "--rate_limiter.samples_per_insert=0",
       "--durability.enabled=false",
       absl::StrCat("--server.max_pending_response_bytes=", kTotalBound),
       absl::StrCat("--server.max_pending_response_bytes_per_client=", kClientBound),
       "--server.port_file=" + dir + "/ports"},
      dir + "/log", ShardEnvironment());
  ASSERT_TRUE(started.ok());
  std::unique_ptr<ChildProcess> shard = std::move(*started);
  auto ports = sac::testing::WaitForPortFile(dir + "/ports", absl::Seconds(30), shard.get());
  ASSERT_TRUE(ports.ok()) << ports.status() << shard->ReadLog();
  auto stub = v1::ReplayService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", ports->grpc), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext c;
    auto stream = stub->Insert(&c);
    for (uint64_t i = 0; i < 10; ++i) {
      v1::InsertRequest r;
      r.set_sequence(i + 1);
      *r.mutable_batch() = testing::MakeBatch(i * 1000, 1000, kObs, kAct);
      ASSERT_TRUE(stream->Write(r));
    }
    stream->WritesDone();
    v1::InsertResponse ack;
    int acks = 0;
    while (stream->Read(&ack)) ++acks;
    ASSERT_TRUE(stream->Finish().ok());
    ASSERT_EQ(acks, 10);
  }
  // A well-behaved client: batches of 256, every answer read.
  int good_calls = 0, good_ok = 0;
  auto good_sample = [&] {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::SampleRequest r;
    r.set_batch_size(256);
    v1::SampleResponse out;
    grpc::Status s = stub->Sample(&c, r, &out);
    ++good_calls;
    if (s.ok() && out.key_size() == 256) ++good_ok;
    return s;
  };
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(good_sample().ok());
  const int64_t before = ResidentBytes(shard->pid());
  int64_t peak = before;
  auto watch = [&] { peak = std::max(peak, ResidentBytes(shard->pid())); };

  // Three stalled clients ask for 120 large samples each (2.6 GB of answers
  // unbounded), the good client samples between their calls.
  v1::SampleRequest big;
  big.set_batch_size(kHostileBatch);
  std::vector<std::unique_ptr<StalledClient>> stalled;
  for (int k = 0; k < 3; ++k) {
    stalled.push_back(std::make_unique<StalledClient>());
    ASSERT_TRUE(stalled.back()->Connect(ports->grpc));
  }
  for (int i = 0; i < 120; ++i) {
    for (auto& c : stalled) {
      ASSERT_TRUE(c->Call("/sac.v1.ReplayService/Sample", big.SerializeAsString()));
    }
    if (i % 6 == 0) {
      EXPECT_TRUE(good_sample().ok());
    }
    watch();
  }
  // Every stalled call has been answered or refused by the server: the rows
  // sampled for them and the refusals account for every call made.
  auto metrics = [&] { return sac::testing::HttpGet(ports->metrics, "/metrics").value_or(""); };
  auto settled = [&](int calls) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ReplayStatus status;
    if (!stub->GetStatus(&c, {}, &status).ok()) return false;
    const double refused = Metric(metrics(), "sac_server_refused_responses_total");
    const uint64_t hostile_rows = status.samples_total() - 256u * static_cast<uint64_t>(good_ok);
    return refused >= 0 &&
           hostile_rows == uint64_t{kHostileBatch} * (calls - static_cast<int>(refused));
  };
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] {
        watch();
        return settled(3 * 120);
      },
      absl::Seconds(60), absl::Milliseconds(100)))
      << metrics();
  // Each stalled client holds what its bound allows (two answers), no more.
  EXPECT_EQ(Metric(metrics(), "sac_server_refused_responses_total"), 3 * 120 - 3 * 2);
  const double pending = Metric(metrics(), "sac_server_pending_response_bytes");
  EXPECT_GT(pending, 0);
  EXPECT_LE(pending, 3 * kClientBound);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(good_sample().ok());
  watch();

  // More stalled connections than the process bound allows for: their calls
  // are refused once it is reached, and the memory still holds.
  for (int k = 0; k < 6; ++k) {
    stalled.push_back(std::make_unique<StalledClient>());
    ASSERT_TRUE(stalled.back()->Connect(ports->grpc));
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(stalled.back()->Call("/sac.v1.ReplayService/Sample", big.SerializeAsString()));
    }
  }
  ASSERT_TRUE(sac::testing::WaitFor(
      [&] {
        watch();
        return settled(3 * 120 + 6 * 10);
      },
      absl::Seconds(60), absl::Milliseconds(100)))
      << metrics();
  EXPECT_LE(Metric(metrics(), "sac_server_pending_response_bytes"), kTotalBound);
  watch();
  const int64_t growth = peak - before;
  // The bound, and 32 MiB for what the calls themselves hold (gRPC's per-call
  // state for 420 streams, the threads' sample buffers).
  EXPECT_LE(growth, kTotalBound + (32 << 20));

  // The stalled clients leave: their answers are freed and the memory given back.
  stalled.clear();
  EXPECT_TRUE(sac::testing::WaitFor(
      [&] { return Metric(metrics(), "sac_server_pending_response_bytes") == 0; },
      absl::Seconds(30), absl::Milliseconds(100)))
      << metrics();
  int64_t after = ResidentBytes(shard->pid());
  EXPECT_TRUE(sac::testing::WaitFor(
      [&] {
        after = ResidentBytes(shard->pid());
        return after <= before + (32 << 20);
      },
      absl::Seconds(30), absl::Milliseconds(100)))
      << "resident " << after << " bytes after the stalled clients left, " << before << " before";
  EXPECT_TRUE(good_sample().ok());
  EXPECT_EQ(good_ok, good_calls);
  std::printf(
      "FIGURES unread_answers: rss_before_mb=%.1f peak_mb=%.1f growth_mb=%.1f bound_mb=%.1f "
      "after_leaving_mb=%.1f good_calls=%d good_ok=%d refused=%.0f\n",
      before / 1048576.0, peak / 1048576.0, growth / 1048576.0, kTotalBound / 1048576.0,
      after / 1048576.0, good_calls, good_ok,
      Metric(metrics(), "sac_server_refused_responses_total"));
}

// An Insert stream whose client never reads its acks: the shard stops reading
// its batches once kMaxQueuedAcks (1024) acks wait, so the client is held back
// by flow control instead of the ack queue growing; other writers go on.
TEST(UnreadAnswers, InsertStreamWhoseAcksAreNeverReadIsHeldBack) {
  EnsureBinaryDir();
  const std::string dir = sac::testing::MakeTempDir("unread_acks");
  auto started =
      ChildProcess::Start({sac::testing::BinaryPath("sac-replay"), "--task=Hopper-v5",
                           "--capacity=1000000", "--rate_limiter.samples_per_insert=0",
                           "--durability.enabled=false", "--server.port_file=" + dir + "/ports"},
                          dir + "/log");
  ASSERT_TRUE(started.ok());
  std::unique_ptr<ChildProcess> shard = std::move(*started);
  auto ports = sac::testing::WaitForPortFile(dir + "/ports", absl::Seconds(30), shard.get());
  ASSERT_TRUE(ports.ok()) << ports.status() << shard->ReadLog();
  // 5000 batches of 50 rows, 6.5 KB each: 32 MB, more than gRPC's receive
  // windows take in before the shard reads them.
  constexpr int kBatches = 5000, kRows = 50;
  std::vector<std::string> batches;
  for (int i = 0; i < kBatches; ++i) {
    v1::InsertRequest r;
    r.set_sequence(static_cast<uint64_t>(i) + 1);
    *r.mutable_batch() = testing::MakeBatch(static_cast<uint64_t>(i) * kRows, kRows, 11, 3);
    batches.push_back(r.SerializeAsString());
  }
  StalledClient client;
  ASSERT_TRUE(client.Connect(ports->grpc));
  const int sent = client.Stream("/sac.v1.ReplayService/Insert", batches, absl::Seconds(1));
  auto stub = v1::ReplayService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", ports->grpc), grpc::InsecureChannelCredentials()));
  auto stored = [&]() -> int64_t {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ReplayStatus status;
    return stub->GetStatus(&c, {}, &status).ok() ? static_cast<int64_t>(status.size()) : -1;
  };
  // Every batch the shard read is stored and acked into the queue: it read
  // until the queue was full (1024 acks), then stopped.
  EXPECT_LT(sent, kBatches) << "flow control never held the client back";
  EXPECT_TRUE(
      sac::testing::WaitFor([&] { return stored() >= int64_t{1024} * kRows; }, absl::Seconds(30)));
  EXPECT_LE(stored(), 1025 * kRows);
  // Another writer is not held back.
  {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Insert(&c);
    v1::InsertRequest r;
    r.set_sequence(1);
    *r.mutable_batch() = testing::MakeBatch(900000, 10, 11, 3);
    ASSERT_TRUE(stream->Write(r));
    stream->WritesDone();
    v1::InsertResponse ack;
    EXPECT_TRUE(stream->Read(&ack));
    EXPECT_TRUE(stream->Finish().ok());
  }
  std::printf("FIGURES unread_acks: batches_sent=%d of %d, batches_stored=%lld\n", sent, kBatches,
              static_cast<long long>((stored() - 10) / kRows));
}

}  // namespace
}  // namespace sac::replay

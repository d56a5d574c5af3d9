#include "common/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/security.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

TEST(HttpServer, ServesMetricsAndHealth) {
  MetricsRegistry r;
  r.AddCounter("sac_test_requests_total", "x")->Get()->Increment(4);
  std::atomic<bool> healthy{true};
  HttpServerOptions o;
  o.health = [&] {
    return healthy ? absl::OkStatus() : absl::UnavailableError("replay shard 1 unreachable");
  };
  auto server = MetricsHttpServer::Create(o, &r);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->body, HasSubstr("sac_test_requests_total 4"));
  EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  healthy = false;
  health = client.Get("/healthz");
  EXPECT_EQ(health->status, 503);
  EXPECT_THAT(health->body, HasSubstr("replay shard 1 unreachable"));
  EXPECT_EQ(client.Get("/nope")->status, 404);
}

TEST(HttpServer, MetricsTokenWhenConfigured) {
  MetricsRegistry r;
  HttpServerOptions o;
  o.metrics_token = "s3cret";
  auto server = MetricsHttpServer::Create(o, &r);
  ASSERT_TRUE(server.ok());
  httplib::Client client("127.0.0.1", (*server)->port());
  EXPECT_EQ(client.Get("/metrics")->status, 401);
  EXPECT_EQ(client.Get("/metrics", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(client.Get("/metrics", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(client.Get("/healthz")->status, 200);  // health stays open
}

TEST(HttpServer, BadAddressesAreClearErrors) {
  MetricsRegistry r;
  HttpServerOptions o;
  o.address = "localhost";
  EXPECT_THAT(MetricsHttpServer::Create(o, &r).status().message(), HasSubstr("not host:port"));
  o.address = "127.0.0.1:99999";
  EXPECT_THAT(MetricsHttpServer::Create(o, &r).status().message(), HasSubstr("0..65535"));
  auto first = MetricsHttpServer::Create({}, &r);
  ASSERT_TRUE(first.ok());
  o.address = "127.0.0.1:" + std::to_string((*first)->port());
  EXPECT_THAT(MetricsHttpServer::Create(o, &r).status().message(), HasSubstr("cannot bind"));
}

// A blocking TCP connection to 127.0.0.1:port; -1 on failure.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

bool Send(int fd, const std::string& bytes) {
  return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// True once the server has closed `fd` (end of stream or reset), within `timeout`.
bool ClosedByServer(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[4096];
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1;
    if (poll(&p, 1, ms) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
  }
  return false;
}

// A /healthz probe on a fresh connection with the timeouts of a liveness probe
// (1 s to connect, 1 s to answer): true when it answered 200 in time.
bool Probe(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);
  client.set_write_timeout(1, 0);
  auto res = client.Get("/healthz");
  return res && res->status == 200;
}

// Slow and silent clients cannot starve /healthz (the liveness probe): 64
// connections trickling header lines (one every 100 ms) and 64 silent ones,
// against the defaults every process serves with; every probe meanwhile is
// answered within its 1 s. (The thread-pool server this replaced had eight
// workers: eight trickling connections timed every probe out.)
TEST(HttpServer, HealthzAnswersEveryProbeUnder64SlowHeaderConnections) {
  MetricsRegistry r;
  auto server = MetricsHttpServer::Create({}, &r);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  std::vector<int> slow, idle;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(Connect(port));
    ASSERT_GE(slow.back(), 0);
    ASSERT_TRUE(Send(slow.back(), "GET /healthz HTTP/1.1\r\nHost: x\r\n"));
    idle.push_back(Connect(port));
    ASSERT_GE(idle.back(), 0);
  }
  int probes = 0, answered = 0;
  absl::Duration slowest;
  absl::Time next_line = absl::Now();
  const absl::Time end = absl::Now() + absl::Seconds(3);
  while (absl::Now() < end) {
    if (absl::Now() >= next_line) {
      for (int fd : slow) EXPECT_TRUE(Send(fd, "X-Slow: 1\r\n"));
      next_line += absl::Milliseconds(100);
    }
    const absl::Time t0 = absl::Now();
    ++probes;
    if (Probe(port)) ++answered;
    slowest = std::max(slowest, absl::Now() - t0);
  }
  EXPECT_GE(probes, 10);
  EXPECT_EQ(answered, probes) << "slowest probe " << slowest;
  std::printf("FIGURES healthz_under_slow_clients: probes=%d answered=%d slowest_ms=%.1f\n", probes,
              answered, absl::ToDoubleMilliseconds(slowest));
  for (int fd : slow) close(fd);
  for (int fd : idle) close(fd);
}

// The request timeout closes a connection that trickles its headers and an
// idle one; at the connection cap a new connection closes the oldest, so
// probes are answered however many connections stall; oversized heads (431)
// and request bodies (400) are refused.
TEST(HttpServer, RequestTimeoutConnectionCapAndLimits) {
  MetricsRegistry r;
  HttpServerOptions o;
  o.request_timeout = absl::Milliseconds(500);
  o.max_connections = 8;
  auto server = MetricsHttpServer::Create(o, &r);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();

  const int trickling = Connect(port);
  const int silent = Connect(port);
  ASSERT_TRUE(Send(trickling, "GET /healthz HTTP/1.1\r\n"));
  const absl::Time t0 = absl::Now();
  bool closed = false;
  while (!closed && absl::Now() - t0 < absl::Seconds(5)) {
    closed = ClosedByServer(trickling, absl::Milliseconds(50));
    if (!closed) Send(trickling, "X: 1\r\n");
  }
  const absl::Duration lived = absl::Now() - t0;
  EXPECT_TRUE(closed);
  EXPECT_GE(lived, absl::Milliseconds(400));
  EXPECT_LT(lived, absl::Seconds(3));
  EXPECT_TRUE(ClosedByServer(silent, absl::Seconds(3)));
  close(trickling);
  close(silent);

  std::vector<int> stalled;
  for (int i = 0; i < 64; ++i) {
    stalled.push_back(Connect(port));
    ASSERT_GE(stalled.back(), 0);
    ASSERT_TRUE(Send(stalled.back(), "GET /metrics HTTP/1.1\r\n"));
  }
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(Probe(port)) << "probe " << i;
  int evicted = 0;
  for (int fd : stalled) evicted += ClosedByServer(fd, absl::Milliseconds(1)) ? 1 : 0;
  EXPECT_GE(evicted, 64 - 8);
  for (int fd : stalled) close(fd);

  httplib::Client client("127.0.0.1", port);
  auto res =
      client.Get("/healthz", {{"X-Big", std::string(MetricsHttpServer::kMaxHeaderBytes, 'a')}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 431);
  httplib::Client poster("127.0.0.1", port);
  res = poster.Post("/healthz", "body", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_TRUE(Probe(port));
}

TEST(Security, TokenCompare) {
  EXPECT_TRUE(TokenMatches("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(TokenMatches("Bearer abd", "Bearer abc"));
  EXPECT_FALSE(TokenMatches("Bearer ab", "Bearer abc"));
  EXPECT_FALSE(TokenMatches("", "Bearer abc"));
}

}  // namespace
}  // namespace sac

#include "common/http_server.h"

#include <httplib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

TEST(Security, TokenCompare) {
  EXPECT_TRUE(TokenMatches("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(TokenMatches("Bearer abd", "Bearer abc"));
  EXPECT_FALSE(TokenMatches("Bearer ab", "Bearer abc"));
  EXPECT_FALSE(TokenMatches("", "Bearer abc"));
}

}  // namespace
}  // namespace sac

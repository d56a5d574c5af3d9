// A real Prometheus server (Debian's) scrapes our /metrics endpoints on loopback
// (this process's, and a real sac-replay shard's); the test reads the scraped
// series back through Prometheus's HTTP query API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "tests/testing/process.h"

namespace sac {
namespace {

TEST(PrometheusScrape, ScrapedSeriesReadBackThroughQueryApi) {
  MetricsRegistry registry;
  AddProcessMetrics(&registry);
  registry.AddCounter("sac_env_steps_total", "Env steps", {"env"})
      ->WithLabels({"Hopper-v5"})
      ->Increment(12345);
  registry.AddHistogram("sac_sample_latency_seconds", "x", LatencyBuckets())->Get()->Observe(0.002);
  auto http = MetricsHttpServer::Create({}, &registry);
  ASSERT_TRUE(http.ok()) << http.status();

  const std::string dir = testing::MakeTempDir("prom");
  auto shard = testing::ChildProcess::Start(
      {testing::BinaryPath("sac-replay"), "--task=Hopper-v5", "--capacity=12345",
       "--durability.enabled=false", "--server.port_file=" + dir + "/replay.port"},
      dir + "/replay.log");
  ASSERT_TRUE(shard.ok()) << shard.status();
  auto shard_ports =
      testing::WaitForPortFile(dir + "/replay.port", absl::Seconds(60), shard->get());
  ASSERT_TRUE(shard_ports.ok()) << shard_ports.status();
  const int prom_port = testing::PickFreePort();
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: sac\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << (*http)->port()
      << "', '127.0.0.1:" << shard_ports->metrics << "']\n";
  auto prom =
      testing::ChildProcess::Start({SAC_PROMETHEUS, "--config.file=" + dir + "/prometheus.yml",
                                    "--storage.tsdb.path=" + dir + "/data",
                                    "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                                   dir + "/prometheus.log");
  ASSERT_TRUE(prom.ok()) << prom.status();

  std::string body;
  const bool found = testing::WaitFor(
      [&] {
        auto r = testing::HttpGet(prom_port, "/api/v1/query?query=sac_env_steps_total");
        if (!r.ok()) return false;
        body = *r;
        return body.find("\"12345\"") != std::string::npos;
      },
      absl::Seconds(90), absl::Milliseconds(200));
  ASSERT_TRUE(found) << "last answer: " << body << "\nprometheus log:\n" << (*prom)->ReadLog();
  EXPECT_THAT(body, ::testing::HasSubstr("\"env\":\"Hopper-v5\""));
  auto up = testing::HttpGet(prom_port, "/api/v1/query?query=up");
  ASSERT_TRUE(up.ok());
  EXPECT_THAT(*up, ::testing::HasSubstr("\"1\""));
  auto hist = testing::HttpGet(prom_port, "/api/v1/query?query=sac_sample_latency_seconds_count");
  ASSERT_TRUE(hist.ok());
  EXPECT_THAT(*hist, ::testing::HasSubstr("\"1\""));
  // The shard's own series, scraped from the real process.
  std::string capacity;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto r = testing::HttpGet(prom_port, "/api/v1/query?query=sac_replay_table_capacity");
        if (r.ok()) capacity = *r;
        return r.ok() && r->find("\"12345\"") != std::string::npos;
      },
      absl::Seconds(60), absl::Milliseconds(200)))
      << capacity;
}

}  // namespace
}  // namespace sac

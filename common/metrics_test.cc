#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace sac {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, CounterGaugeHistogramExposition) {
  MetricsRegistry r;
  auto* steps = r.AddCounter("sac_test_env_steps_total", "Env steps", {"env"});
  steps->WithLabels({"Hopper-v5"})->Increment(3);
  steps->WithLabels({"Hopper-v5"})->Increment(-5);  // ignored: counters only go up
  r.AddGauge("sac_test_size", "Rows held")->Get()->Set(12.5);
  auto* lat = r.AddHistogram("sac_test_latency_seconds", "Latency", {0.1, 1});
  lat->Get()->Observe(0.05);
  lat->Get()->Observe(0.5);
  lat->Get()->Observe(7);
  const std::string text = r.Exposition();
  EXPECT_THAT(text, HasSubstr("# TYPE sac_test_env_steps_total counter\n"
                              "sac_test_env_steps_total{env=\"Hopper-v5\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# HELP sac_test_size Rows held\n# TYPE sac_test_size gauge\n"
                              "sac_test_size 12.5\n"));
  EXPECT_THAT(text, HasSubstr("sac_test_latency_seconds_bucket{le=\"0.10000000000000001\"} 1\n"
                              "sac_test_latency_seconds_bucket{le=\"1\"} 2\n"
                              "sac_test_latency_seconds_bucket{le=\"+Inf\"} 3\n"
                              "sac_test_latency_seconds_sum 7.5499999999999998\n"
                              "sac_test_latency_seconds_count 3\n"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.AddGauge("sac_test_g", "help with \\ and\nnewline", {"path"})
      ->WithLabels({"a\"b\\c\nd"})
      ->Set(1);
  const std::string text = r.Exposition();
  EXPECT_THAT(text, HasSubstr("sac_test_g{path=\"a\\\"b\\\\c\\nd\"} 1"));
  EXPECT_THAT(text, HasSubstr("# HELP sac_test_g help with \\\\ and\\nnewline"));
}

TEST(Metrics, LabelSetsAreBounded) {
  MetricsRegistry r;
  auto* f = r.AddCounter("sac_test_bounded_total", "x", {"id"}, /*max_series=*/2);
  f->WithLabels({"a"})->Increment();
  f->WithLabels({"b"})->Increment();
  Counter* c1 = f->WithLabels({"c"});
  Counter* c2 = f->WithLabels({"d"});
  EXPECT_EQ(c1, c2);  // both beyond the bound: the shared overflow series
  c1->Increment(2);
  EXPECT_THAT(r.Exposition(), HasSubstr("sac_test_bounded_total{id=\"_overflow\"} 2"));
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry r;
  auto* f = r.AddCounter("sac_test_conc_total", "x", {"t"});
  auto* h = r.AddHistogram("sac_test_conc_seconds", "x", LatencyBuckets());
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        f->WithLabels({t % 2 ? "odd" : "even"})->Increment();
        h->Get()->Observe(1e-3);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(f->WithLabels({"odd"})->Value() + f->WithLabels({"even"})->Value(), 40000);
  EXPECT_EQ(h->Get()->Count(), 40000u);
}

TEST(Metrics, CollectorsRunBeforeExposition) {
  MetricsRegistry r;
  Gauge* g = r.AddGauge("sac_test_live", "x")->Get();
  int calls = 0;
  r.AddCollector([&] { g->Set(++calls); });
  EXPECT_THAT(r.Exposition(), HasSubstr("sac_test_live 1"));
  EXPECT_THAT(r.Exposition(), HasSubstr("sac_test_live 2"));
}

TEST(MetricsDeathTest, DuplicateAndInvalidNamesAbort) {
  MetricsRegistry r;
  r.AddCounter("sac_test_dup_total", "x");
  EXPECT_DEATH(r.AddCounter("sac_test_dup_total", "x"), "registered twice");
  EXPECT_DEATH(r.AddGauge("sac test", "x"), "invalid metric name");
  EXPECT_DEATH(r.AddGauge("sac_ok", "x", {"le"}), "invalid label name");
}

// The real checker: promtool from Debian's prometheus package.
TEST(Metrics, PromtoolAcceptsExpositionOfEveryKind) {
  MetricsRegistry r;
  AddProcessMetrics(&r);
  r.AddCounter("sac_test_inserts_total", "Rows inserted", {"shard", "table"})
      ->WithLabels({"0", "a \"quoted\" \\ value\nwith newline"})
      ->Increment(5);
  r.AddGauge("sac_test_table_size", "Rows held", {"shard"})->WithLabels({"1"})->Set(-3.5);
  auto* h = r.AddHistogram("sac_test_sample_latency_seconds", "Sample latency", LatencyBuckets(),
                           {"shard"});
  h->WithLabels({"0"})->Observe(2e-4);
  h->WithLabels({"1"})->Observe(3);
  r.AddGauge("sac_test_nan", "A NaN gauge")->Get()->Set(std::nan(""));
  const std::string path = ::testing::TempDir() + "/exposition.txt";
  std::ofstream(path) << r.Exposition();
  const std::string cmd = std::string(SAC_PROMTOOL) + " check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << "promtool said:\n" << out << "\non:\n" << r.Exposition();
  EXPECT_EQ(out, "") << out;  // no lint warnings either
}

}  // namespace
}  // namespace sac

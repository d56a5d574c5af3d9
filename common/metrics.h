// Our metrics library: counters, gauges and histograms in labelled families,
// exposed in the Prometheus text format 0.0.4 (checked by `promtool check
// metrics` in tests). Prometheus-cpp is not packaged where we can reach.
//
// Conventions (DESIGN.md): names start with `sac_`, carry base units
// (`_seconds`, `_bytes`), counters end in `_total`. Label sets are bounded: a
// family holds at most `max_series` label combinations; further ones share one
// overflow series whose label values are all "_overflow".
//
// Thread-safety: everything is thread-safe. Updating a series is lock-free
// (atomics); creating a series and exposition take the family's mutex. Series
// pointers stay valid for the registry's lifetime.
#ifndef SAC_COMMON_METRICS_H_
#define SAC_COMMON_METRICS_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sac {

class Counter {
 public:
  // `delta` must be >= 0 (negative deltas are ignored: counters only go up).
  void Increment(double delta = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds of the buckets (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size(): the +Inf bucket).
  uint64_t BucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Buckets for latencies in seconds, 10 us .. 10 s.
std::vector<double> LatencyBuckets();
// `count` buckets start, start*factor, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// The series of one metric name, one per combination of label values.
template <typename T>
class Family {
 public:
  // Returns the series for `values` (one per label name), creating it on first
  // use. Wrong arity is a programming error and aborts.
  T* WithLabels(const std::vector<std::string>& values) ABSL_LOCKS_EXCLUDED(mu_);
  // The series without labels (only for families declared without label names).
  T* Get() { return WithLabels({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls `fn(label_values, series)` for each series, in label order.
  void ForEach(const std::function<void(const std::vector<std::string>&, const T&)>& fn) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         size_t max_series, std::function<std::unique_ptr<T>()> make);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_ ABSL_GUARDED_BY(mu_);
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registering a name twice, or an invalid name, is a programming error and
  // aborts with a message.
  Family<Counter>* AddCounter(absl::string_view name, absl::string_view help,
                              std::vector<std::string> label_names = {},
                              size_t max_series = kDefaultMaxSeries);
  Family<Gauge>* AddGauge(absl::string_view name, absl::string_view help,
                          std::vector<std::string> label_names = {},
                          size_t max_series = kDefaultMaxSeries);
  Family<Histogram>* AddHistogram(absl::string_view name, absl::string_view help,
                                  std::vector<double> bounds,
                                  std::vector<std::string> label_names = {},
                                  size_t max_series = kDefaultMaxSeries);

  // Runs before every exposition (e.g. to refresh gauges from live state).
  void AddCollector(std::function<void()> collector) ABSL_LOCKS_EXCLUDED(mu_);

  // The Prometheus text exposition format 0.0.4, families sorted by name.
  std::string Exposition() const ABSL_LOCKS_EXCLUDED(mu_);

  static constexpr size_t kDefaultMaxSeries = 256;

 private:
  struct Entry {
    MetricType type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry* AddEntry(absl::string_view name, const std::vector<std::string>& label_names)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
};

// Adds sac_process_start_time_seconds, sac_process_resident_memory_bytes and
// sac_process_cpu_seconds_total (read from /proc at exposition).
void AddProcessMetrics(MetricsRegistry* registry);

// Escapes a label value for the text format (\\, \", \n).
std::string EscapeLabelValue(absl::string_view value);

}  // namespace sac

#endif  // SAC_COMMON_METRICS_H_

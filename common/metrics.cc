#include "common/metrics.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace sac {
namespace {

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} plus an optional extra label (le for buckets); empty when none.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     absl::string_view extra_name = {}, absl::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ",";
    absl::StrAppend(&out, extra_name, "=\"", extra_value, "\"");
  }
  out += "}";
  return out;
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Counter::Increment(double delta) {
  if (!(delta >= 0)) return;
  value_.fetch_add(delta, std::memory_order_relaxed);
}

void Gauge::Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    SAC_CHECK(bounds_[i] > bounds_[i - 1]) << "histogram bounds must increase";
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> b;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) b.push_back(v);
  return b;
}

std::vector<double> LatencyBuckets() {
  return {1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
          2.5e-2, 5e-2,   0.1,  0.25, 0.5,    1,    2.5,  5,      10};
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  size_t max_series, std::function<std::unique_ptr<T>()> make)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      max_series_(max_series),
      make_(std::move(make)) {}

template <typename T>
T* Family<T>::WithLabels(const std::vector<std::string>& values) {
  SAC_CHECK(values.size() == label_names_.size())
      << name_ << ": " << values.size() << " label values for " << label_names_.size() << " labels";
  absl::MutexLock lock(&mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return it->second.get();
  if (series_.size() >= max_series_) {
    std::vector<std::string> overflow(values.size(), "_overflow");
    auto& slot = series_[overflow];
    if (!slot) {
      SAC_LOG(WARNING) << name_ << ": more than " << max_series_
                       << " label sets; further ones share the _overflow series";
      slot = make_();
    }
    return slot.get();
  }
  auto& slot = series_[values];
  slot = make_();
  return slot.get();
}

template <typename T>
void Family<T>::ForEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, series] : series_) fn(labels, *series);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

MetricsRegistry::Entry* MetricsRegistry::AddEntry(absl::string_view name,
                                                  const std::vector<std::string>& label_names) {
  SAC_CHECK(ValidName(name, true)) << "invalid metric name '" << name << "'";
  for (const auto& l : label_names) {
    SAC_CHECK(ValidName(l, false) && l.rfind("__", 0) != 0 && l != "le")
        << name << ": invalid label name '" << l << "'";
  }
  SAC_CHECK(entries_.find(name) == entries_.end()) << "metric '" << name << "' registered twice";
  return &entries_[std::string(name)];
}

Family<Counter>* MetricsRegistry::AddCounter(absl::string_view name, absl::string_view help,
                                             std::vector<std::string> label_names,
                                             size_t max_series) {
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, label_names);
  e->type = MetricType::kCounter;
  e->counter.reset(new Family<Counter>(std::string(name), std::string(help), std::move(label_names),
                                       max_series, [] { return std::make_unique<Counter>(); }));
  return e->counter.get();
}

Family<Gauge>* MetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                                         std::vector<std::string> label_names, size_t max_series) {
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, label_names);
  e->type = MetricType::kGauge;
  e->gauge.reset(new Family<Gauge>(std::string(name), std::string(help), std::move(label_names),
                                   max_series, [] { return std::make_unique<Gauge>(); }));
  return e->gauge.get();
}

Family<Histogram>* MetricsRegistry::AddHistogram(absl::string_view name, absl::string_view help,
                                                 std::vector<double> bounds,
                                                 std::vector<std::string> label_names,
                                                 size_t max_series) {
  absl::MutexLock lock(&mu_);
  Entry* e = AddEntry(name, label_names);
  e->type = MetricType::kHistogram;
  e->histogram.reset(new Family<Histogram>(
      std::string(name), std::string(help), std::move(label_names), max_series,
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); }));
  return e->histogram.get();
}

void MetricsRegistry::AddCollector(std::function<void()> collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Exposition() const {
  std::vector<std::function<void()>> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();

  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& entry : entries_) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const std::string& name = entry.first;
    const auto& e = entry.second;
    switch (e.type) {
      case MetricType::kCounter: {
        const auto& f = *e.counter;
        absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(f.help()), "\n# TYPE ", name,
                        " counter\n");
        f.ForEach([&](const std::vector<std::string>& labels, const Counter& c) {
          absl::StrAppend(&out, name, LabelSet(f.label_names(), labels), " ",
                          FormatValue(c.Value()), "\n");
        });
        break;
      }
      case MetricType::kGauge: {
        const auto& f = *e.gauge;
        absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(f.help()), "\n# TYPE ", name,
                        " gauge\n");
        f.ForEach([&](const std::vector<std::string>& labels, const Gauge& g) {
          absl::StrAppend(&out, name, LabelSet(f.label_names(), labels), " ",
                          FormatValue(g.Value()), "\n");
        });
        break;
      }
      case MetricType::kHistogram: {
        const auto& f = *e.histogram;
        absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(f.help()), "\n# TYPE ", name,
                        " histogram\n");
        f.ForEach([&](const std::vector<std::string>& labels, const Histogram& h) {
          uint64_t cumulative = 0;
          for (size_t i = 0; i <= h.bounds().size(); ++i) {
            cumulative += h.BucketCount(i);
            const std::string le = i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
            absl::StrAppend(&out, name, "_bucket", LabelSet(f.label_names(), labels, "le", le), " ",
                            cumulative, "\n");
          }
          absl::StrAppend(&out, name, "_sum", LabelSet(f.label_names(), labels), " ",
                          FormatValue(h.Sum()), "\n");
          absl::StrAppend(&out, name, "_count", LabelSet(f.label_names(), labels), " ", cumulative,
                          "\n");
        });
        break;
      }
    }
  }
  return out;
}

void AddProcessMetrics(MetricsRegistry* registry) {
  const double start =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  registry->AddGauge("sac_process_start_time_seconds", "Start time of the process (Unix seconds)")
      ->Get()
      ->Set(start);
  Gauge* rss =
      registry->AddGauge("sac_process_resident_memory_bytes", "Resident memory of the process")
          ->Get();
  Gauge* cpu =
      registry
          ->AddGauge("sac_process_cpu_seconds", "User and system CPU time of the process so far")
          ->Get();
  registry->AddCollector([rss, cpu] {
    std::ifstream statm("/proc/self/statm");
    int64_t pages_total = 0, pages_resident = 0;
    if (statm >> pages_total >> pages_resident) {
      rss->Set(static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
    }
    std::ifstream stat("/proc/self/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    const size_t close = content.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(content.substr(close + 2));
      std::string field;
      double utime = 0, stime = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::atof(field.c_str());
        if (i == 15) stime = std::atof(field.c_str());
      }
      cpu->Set((utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK)));
    }
  });
}

}  // namespace sac

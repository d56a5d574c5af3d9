// learner_throughput: SAC updates per second of our learner core, beside the
// references measured in the same run:
//   - python: a plain PyTorch (Python) loop of the same update
//     (bench/reference/python_sac_loop.py, the golden test's reference),
//   - sb3: Stable-Baselines3's SAC train step (v2 only; its own venv),
//   - ceiling: the FLOPs of every matrix product of one update (forward and
//     backward) over the float32 matmul throughput measured at exactly those
//     shapes.
// Beside our float32 update: the same update with sac.matmul_dtype=bfloat16
// (bf16/s), its ratio to ours in float32 and to the float32 ceiling.
// HalfCheetah sizes (obs 17, act 6), batch 256, 2x256 networks, CPU.
// Figures are updates per wall-clock second (the best of interleaved windows)
// and, beside them, per CPU-second of the process (all its threads), which a
// loaded machine distorts much less; the ratio to the ceiling is given for both.
//
// Flags: --seconds=S per figure (3), --device=cpu|cuda[:i], --variants=v1,v2,
// --threads=1,2, --no_python, --no_sb3, --no_ablations.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "learner/sac_learner.h"

namespace sac::learner {
namespace {

constexpr int64_t kObs = 17, kAct = 6, kBatch = 256, kHidden = 256;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds of this process (all threads): on a loaded machine a window's
// wall time includes the time others had the cores; its CPU time does not.
double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

struct Batch {
  std::vector<float> obs, action, reward, next_obs;
  std::vector<uint8_t> terminated, truncated;
};

Batch RandomBatch(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  Batch b;
  for (int64_t i = 0; i < kBatch * kObs; ++i) b.obs.push_back(normal(rng));
  for (int64_t i = 0; i < kBatch * kObs; ++i) b.next_obs.push_back(normal(rng));
  for (int64_t i = 0; i < kBatch * kAct; ++i) b.action.push_back(unit(rng));
  for (int64_t i = 0; i < kBatch; ++i) b.reward.push_back(normal(rng));
  for (int64_t i = 0; i < kBatch; ++i) b.terminated.push_back(unit(rng) > 0.98f);
  b.truncated.assign(kBatch, 0);
  return b;
}

// One matrix product [m, k] x [k, n].
struct Matmul {
  int64_t m, k, n;
};

// The products of one update. sizes: an MLP's layer widths (in ... out).
void Forward(const std::vector<int64_t>& s, int64_t rows, int copies, std::vector<Matmul>* out) {
  for (int c = 0; c < copies; ++c) {
    for (size_t l = 0; l + 1 < s.size(); ++l) out->push_back({rows, s[l], s[l + 1]});
  }
}
void WeightGrads(const std::vector<int64_t>& s, int64_t rows, int copies,
                 std::vector<Matmul>* out) {
  for (int c = 0; c < copies; ++c) {
    for (size_t l = 0; l + 1 < s.size(); ++l) out->push_back({s[l + 1], rows, s[l]});
  }
}
void InputGrads(const std::vector<int64_t>& s, int64_t rows, int copies, bool first,
                std::vector<Matmul>* out) {
  for (int c = 0; c < copies; ++c) {
    for (size_t l = first ? 0 : 1; l + 1 < s.size(); ++l) out->push_back({rows, s[l + 1], s[l]});
  }
}

std::vector<Matmul> UpdateMatmuls(const std::string& variant) {
  const std::vector<int64_t> policy = {kObs, kHidden, kHidden, 2 * kAct};
  const std::vector<int64_t> q = {kObs + kAct, kHidden, kHidden, 1};
  const std::vector<int64_t> v = {kObs, kHidden, kHidden, 1};
  std::vector<Matmul> out;
  if (variant == "v2") {
    Forward(policy, kBatch, 1, &out);  // policy at s' (no grad)
    Forward(q, kBatch, 2, &out);       // target Qs at s'
  } else {
    Forward(v, kBatch, 1, &out);  // target V at s'
    Forward(v, kBatch, 1, &out);  // V at s, trained
    WeightGrads(v, kBatch, 1, &out);
    InputGrads(v, kBatch, 1, false, &out);
  }
  Forward(policy, kBatch, 1, &out);  // policy at s, trained
  WeightGrads(policy, kBatch, 1, &out);
  InputGrads(policy, kBatch, 1, false, &out);
  Forward(q, kBatch, 2, &out);  // Qs at fresh actions: gradient to the actions only
  InputGrads(q, kBatch, 2, true, &out);
  Forward(q, kBatch, 2, &out);  // Qs at the batch's actions, trained
  WeightGrads(q, kBatch, 2, &out);
  InputGrads(q, kBatch, 2, false, &out);
  return out;
}

struct Ceiling {
  double gflop = 0;              // per update
  double seconds = 0;            // of all products of one update, measured
  double updates_per_s = 0;      // 1 / seconds
  double gflops = 0;             // gflop / seconds
  double updates_per_cpu_s = 0;  // the same per CPU-second of the process
};

// The matmul ceiling: every distinct shape of one update's products timed with
// torch::mm_out at the current thread count. Measure() runs one window per
// shape and keeps each shape's best, so that windows can be interleaved with
// the learner's (on a shared machine both then see the same load).
class CeilingMeter {
 public:
  explicit CeilingMeter(const std::string& variant) {
    torch::NoGradGuard no_grad;
    std::map<std::tuple<int64_t, int64_t, int64_t>, int> shapes;
    for (const Matmul& mm : UpdateMatmuls(variant)) {
      ++shapes[{mm.m, mm.k, mm.n}];
      gflop_ += 2.0 * mm.m * mm.k * mm.n * 1e-9;
    }
    for (const auto& [shape, count] : shapes) {
      const auto [m, k, n] = shape;
      shapes_.push_back(
          {torch::randn({m, k}), torch::randn({k, n}), torch::empty({m, n}), count, 1e9, 1e9});
    }
  }
  // One window of `seconds` over all shapes.
  void Measure(double seconds) {
    torch::NoGradGuard no_grad;
    for (Shape& s : shapes_) {
      for (int i = 0; i < 5; ++i) torch::mm_out(s.out, s.a, s.b);
      int64_t reps = 0;
      const auto start = Clock::now();
      const double cpu_start = CpuSeconds();
      while (SecondsSince(start) < seconds / shapes_.size()) {
        for (int i = 0; i < 10; ++i) torch::mm_out(s.out, s.a, s.b);
        reps += 10;
      }
      s.best = std::min(s.best, SecondsSince(start) / reps);
      s.best_cpu = std::min(s.best_cpu, (CpuSeconds() - cpu_start) / reps);
    }
  }
  Ceiling Result() const {
    Ceiling c;
    c.gflop = gflop_;
    double cpu = 0;
    for (const Shape& s : shapes_) {
      c.seconds += s.count * s.best;
      cpu += s.count * s.best_cpu;
    }
    c.updates_per_s = 1.0 / c.seconds;
    c.updates_per_cpu_s = 1.0 / cpu;
    c.gflops = c.gflop / c.seconds;
    return c;
  }

 private:
  struct Shape {
    torch::Tensor a, b, out;
    int count;
    double best;      // seconds per product
    double best_cpu;  // CPU seconds per product
  };
  std::vector<Shape> shapes_;
  double gflop_ = 0;
};

LearnerOptions BenchOptions(int threads, const std::string& device, const LearnerTuning& tuning) {
  LearnerOptions o;
  o.task = "HalfCheetah-v5";
  o.obs_dim = kObs;
  o.act_dim = kAct;
  o.action_low.assign(kAct, -1.0f);
  o.action_high.assign(kAct, 1.0f);
  o.threads = threads;
  o.device = device;
  o.tuning = tuning;
  return o;
}

// One learner with its batches; Window() runs updates for a while and returns
// updates/s. Several runners' windows can be interleaved, so that on a shared
// machine all of them see the same load.
class Runner {
 public:
  Runner(const std::string& variant, int threads, const std::string& device,
         const LearnerTuning& tuning, const std::string& matmul_dtype = "float32")
      : threads_(threads) {
    v1::SacConfig config;
    config.set_variant(variant);
    config.set_matmul_dtype(matmul_dtype);
    auto learner = SacLearner::Create(config, BenchOptions(threads, device, tuning));
    if (!learner.ok()) {
      std::printf("  error: %s\n", learner.status().ToString().c_str());
      return;
    }
    learner_ = std::move(learner).value();
    for (int i = 0; i < 4; ++i) batches_.push_back(RandomBatch(i));
    for (int i = 0; i < 20; ++i) (void)learner_->Update(Host(i));
  }
  bool ok() const { return learner_ != nullptr; }
  // Updates/s over one window of `seconds` (-1 on error); keeps the best.
  double Window(double seconds) {
    if (!ok()) return -1;
    torch::set_num_threads(threads_);  // process-wide: the runners may differ
    int64_t n = 0;
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    while (SecondsSince(start) < seconds) {
      if (!learner_->Update(Host(count_++)).ok()) return -1;
      ++n;
    }
    const double rate = n / SecondsSince(start);
    best_ = std::max(best_, rate);
    best_cpu_ = std::max(best_cpu_, n / (CpuSeconds() - cpu_start));
    return rate;
  }
  double best() const { return ok() ? best_ : -1; }
  double best_cpu() const { return ok() ? best_cpu_ : -1; }

 private:
  HostBatch Host(int64_t i) const {
    const Batch& b = batches_[i % batches_.size()];
    return HostBatch{kBatch,
                     kObs,
                     kAct,
                     b.obs.data(),
                     b.action.data(),
                     b.reward.data(),
                     b.next_obs.data(),
                     b.terminated.data(),
                     b.truncated.data()};
  }
  int threads_;
  std::unique_ptr<SacLearner> learner_;
  std::vector<Batch> batches_;
  int64_t count_ = 0;
  double best_ = 0;
  double best_cpu_ = 0;
};

constexpr int kWindows = 10;

// Runs `command`, returns the number after "updates_per_second=" (-1 if none).
double RunReference(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string output;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  ::pclose(pipe);
  const size_t pos = output.rfind("updates_per_second=");
  double value = -1;
  if (pos == std::string::npos) return -1;
  std::string number = output.substr(pos + 19);
  while (!number.empty() && (number.back() == '\n' || number.back() == ' ')) number.pop_back();
  if (!absl::SimpleAtod(number, &value)) return -1;
  return value;
}

std::string Fmt(double v) { return v < 0 ? std::string("n/a") : absl::StrFormat("%.1f", v); }

// The benchmark; main() only forwards to it.
int Main(int argc, char** argv) {
  double seconds = 3;
  std::string device = "cpu";
  bool python = true, sb3 = true, ablations = true;
  std::vector<std::string> variants = {"v1", "v2"};
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--seconds=", 0) == 0) {
      if (!absl::SimpleAtod(arg.substr(10), &seconds) || !(seconds > 0)) {
        std::fprintf(stderr, "bad --seconds\n");
        return 2;
      }
    } else if (arg.rfind("--device=", 0) == 0) {
      device = arg.substr(9);
    } else if (arg.rfind("--variants=", 0) == 0) {
      variants = absl::StrSplit(arg.substr(11), ',');
      for (const std::string& v : variants) {
        if (v != "v1" && v != "v2") {
          std::fprintf(stderr, "bad --variants: %s (v1, v2)\n", v.c_str());
          return 2;
        }
      }
    } else if (arg.rfind("--threads=", 0) == 0) {
      thread_counts.clear();
      for (const absl::string_view t : absl::StrSplit(arg.substr(10), ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(t, &n) || n < 1) {
          std::fprintf(stderr, "bad --threads: %s\n", std::string(t).c_str());
          return 2;
        }
        thread_counts.push_back(n);
      }
    } else if (arg == "--no_python") {
      python = false;
    } else if (arg == "--no_sb3") {
      sb3 = false;
    } else if (arg == "--no_ablations") {
      ablations = false;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  const std::string src = SAC_SOURCE_DIR;
  std::string sb3_python;
  if (sb3) {
    // Creates the separate venv once (seconds when it exists).
    FILE* pipe = ::popen((src + "/bench/reference/make_sb3_venv.sh 2>/dev/null").c_str(), "r");
    char buf[512];
    if (pipe != nullptr && std::fgets(buf, sizeof(buf), pipe) != nullptr) {
      sb3_python = buf;
      while (!sb3_python.empty() && sb3_python.back() == '\n') sb3_python.pop_back();
    }
    if (pipe != nullptr) ::pclose(pipe);
  }
  std::printf(
      "learner_throughput: batch %lld, obs %lld, act %lld, hidden 2x%lld, device %s, "
      "%.1f s per figure (best of %d windows; ceiling windows interleaved with ours)\n",
      static_cast<long long>(kBatch), static_cast<long long>(kObs), static_cast<long long>(kAct),
      static_cast<long long>(kHidden), device.c_str(), seconds, kWindows);
  std::printf("%-8s %-7s %10s %10s %10s %10s %8s %10s %12s %10s %12s %10s %10s %9s %12s\n",
              "variant", "threads", "ours/s", "python/s", "sb3/s", "ceiling/s", "GFLOP", "GFLOP/s",
              "ours/ceiling", "ours/cpu-s", "ceiling/cpu-s", "(cpu ratio)", "bf16/s", "bf16/ours",
              "bf16/ceiling");
  for (const std::string& variant : variants) {
    for (const int threads : thread_counts) {
      // The best of kWindows windows each (on a shared machine the others'
      // load only ever slows a window down), ceiling and ours interleaved.
      Runner ours(variant, threads, device, LearnerTuning{});
      Runner bf16(variant, threads, device, LearnerTuning{}, "bfloat16");
      CeilingMeter meter(variant);
      for (int window = 0; window < kWindows && ours.ok(); ++window) {
        meter.Measure(seconds / kWindows);
        ours.Window(seconds / kWindows);
        bf16.Window(seconds / kWindows);
      }
      const Ceiling c = meter.Result();
      struct {
        double ours;
      } m{ours.best()};
      const double ours_cpu = ours.best_cpu();
      double py = -1, sb = -1;
      if (python) {
        py = RunReference(absl::StrCat(SAC_PYTHON, " ", src,
                                       "/bench/reference/python_sac_loop.py --variant ", variant,
                                       " --threads ", threads, " --seconds ", seconds));
      }
      if (!sb3_python.empty() && variant == "v2") {
        sb = RunReference(absl::StrCat(sb3_python, " ", src,
                                       "/bench/reference/sb3_train_step.py --threads ", threads,
                                       " --seconds ", seconds));
      }
      const double b = bf16.best();
      std::printf(
          "%-8s %-7d %10s %10s %10s %10.1f %8.3f %10.1f %11.0f%% %10s %12.1f %9.0f%% %10s %8s "
          "%12s\n",
          variant.c_str(), threads, Fmt(m.ours).c_str(), Fmt(py).c_str(), Fmt(sb).c_str(),
          c.updates_per_s, c.gflop, c.gflops, 100.0 * m.ours / c.updates_per_s,
          Fmt(ours_cpu).c_str(), c.updates_per_cpu_s, 100.0 * ours_cpu / c.updates_per_cpu_s,
          Fmt(b).c_str(), b < 0 ? "n/a" : absl::StrFormat("%.2fx", b / m.ours).c_str(),
          b < 0 ? "n/a" : absl::StrFormat("%.0f%%", 100.0 * b / c.updates_per_s).c_str());
      std::fflush(stdout);
    }
  }
  if (ablations) {
    std::printf(
        "\nablations (updates/s, best of %d interleaved windows of %.2f s; each column changes "
        "one choice from the default, the hand-written update):\n",
        kWindows, seconds / kWindows);
    for (const std::string& variant : variants) {
      for (const int threads : thread_counts) {
        std::vector<std::pair<std::string, LearnerTuning>> configs;
        configs.emplace_back("hand-written", LearnerTuning{});
        LearnerTuning t;
        t.stack_q_rows = false;
        configs.emplace_back("Q rows unstacked", t);
        t = LearnerTuning{};
        t.fused_adam = false;
        configs.emplace_back("per-tensor Adam", t);
        t = LearnerTuning{};
        t.manual_backward = false;
        configs.emplace_back("autograd", t);
        LearnerTuning a = t;
        a.fuse_twin_q = true;
        configs.emplace_back("autograd, twin Qs fused", a);
        a = t;
        a.no_grad_targets = false;
        configs.emplace_back("autograd, targets with autograd", a);
        a = t;
        a.fused_adam = false;
        configs.emplace_back("autograd, per-tensor Adam", a);
        std::vector<std::unique_ptr<Runner>> runners;
        runners.reserve(configs.size());
        for (const auto& [name, tuning] : configs) {
          runners.push_back(std::make_unique<Runner>(variant, threads, device, tuning));
        }
        // Interleaved windows: every configuration sees the same load.
        for (int window = 0; window < kWindows; ++window) {
          for (auto& r : runners) r->Window(seconds / kWindows);
        }
        std::printf("%s threads=%d:", variant.c_str(), threads);
        for (size_t i = 0; i < configs.size(); ++i) {
          std::printf("%s %s %s (%s/cpu-s)", i == 0 ? "" : " |", configs[i].first.c_str(),
                      Fmt(runners[i]->best()).c_str(), Fmt(runners[i]->best_cpu()).c_str());
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace sac::learner

int main(int argc, char** argv) { return sac::learner::Main(argc, argv); }

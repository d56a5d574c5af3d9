// learner_throughput: SAC updates per second of our learner core, beside the
// references measured in the same run:
//   - python: a plain PyTorch (Python) loop of the same update
//     (bench/reference/python_sac_loop.py, the golden test's reference),
//   - sb3: Stable-Baselines3's SAC train step (v2 only; its own venv),
//   - ceiling: the FLOPs of every matrix product of one update (forward and
//     backward) over the matmul throughput measured at exactly those shapes.
// HalfCheetah sizes (obs 17, act 6), batch 256, 2x256 networks, CPU.
//
// Flags: --seconds=S per figure (3), --device=cpu|cuda[:i], --no_python,
// --no_sb3, --no_ablations.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "learner/sac_learner.h"

namespace sac::learner {
namespace {

constexpr int64_t kObs = 17, kAct = 6, kBatch = 256, kHidden = 256;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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

// Updates per second of our learner (-1 on error, printed).
double MeasureLearner(const std::string& variant, int threads, const std::string& device,
                      const LearnerTuning& tuning, double seconds) {
  v1::SacConfig config;
  config.set_variant(variant);
  LearnerOptions o;
  o.task = "HalfCheetah-v5";
  o.obs_dim = kObs;
  o.act_dim = kAct;
  o.action_low.assign(kAct, -1.0f);
  o.action_high.assign(kAct, 1.0f);
  o.threads = threads;
  o.device = device;
  o.tuning = tuning;
  auto learner = SacLearner::Create(config, o);
  if (!learner.ok()) {
    std::printf("  error: %s\n", learner.status().ToString().c_str());
    return -1;
  }
  std::vector<Batch> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(RandomBatch(i));
  auto host = [&](int64_t i) {
    const Batch& b = batches[i % batches.size()];
    return HostBatch{kBatch,
                     kObs,
                     kAct,
                     b.obs.data(),
                     b.action.data(),
                     b.reward.data(),
                     b.next_obs.data(),
                     b.terminated.data(),
                     b.truncated.data()};
  };
  for (int i = 0; i < 20; ++i) (void)(*learner)->Update(host(i));
  // The best of five windows: on a shared machine the others' load only ever
  // slows a window down (the references are measured the same way).
  int64_t count = 0;
  double best = 0;
  for (int window = 0; window < 5; ++window) {
    int64_t n = 0;
    const auto start = Clock::now();
    while (SecondsSince(start) < seconds / 5) {
      if (!(*learner)->Update(host(count)).ok()) return -1;
      ++count;
      ++n;
    }
    best = std::max(best, n / SecondsSince(start));
  }
  return best;
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
  double gflop = 0;          // per update
  double seconds = 0;        // of all products of one update, measured
  double updates_per_s = 0;  // 1 / seconds
  double gflops = 0;         // gflop / seconds
};

// Times every distinct shape with torch::mm_out at `threads` threads.
Ceiling MeasureCeiling(const std::string& variant, int threads) {
  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  std::map<std::tuple<int64_t, int64_t, int64_t>, int> shapes;
  Ceiling c;
  for (const Matmul& mm : UpdateMatmuls(variant)) {
    ++shapes[{mm.m, mm.k, mm.n}];
    c.gflop += 2.0 * mm.m * mm.k * mm.n * 1e-9;
  }
  for (const auto& [shape, count] : shapes) {
    const auto [m, k, n] = shape;
    const torch::Tensor a = torch::randn({m, k}), b = torch::randn({k, n});
    torch::Tensor out = torch::empty({m, n});
    for (int i = 0; i < 20; ++i) torch::mm_out(out, a, b);
    double best = 1e9;  // seconds per product, best of five windows
    for (int window = 0; window < 5; ++window) {
      int64_t reps = 0;
      const auto start = Clock::now();
      while (SecondsSince(start) < 0.05) {
        for (int i = 0; i < 10; ++i) torch::mm_out(out, a, b);
        reps += 10;
      }
      best = std::min(best, SecondsSince(start) / reps);
    }
    c.seconds += count * best;
  }
  c.updates_per_s = 1.0 / c.seconds;
  c.gflops = c.gflop / c.seconds;
  return c;
}

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

}  // namespace
}  // namespace sac::learner

int main(int argc, char** argv) {
  using namespace sac::learner;
  double seconds = 3;
  std::string device = "cpu";
  bool python = true, sb3 = true, ablations = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--seconds=", 0) == 0) {
      if (!absl::SimpleAtod(arg.substr(10), &seconds)) return 2;
    } else if (arg.rfind("--device=", 0) == 0) {
      device = arg.substr(9);
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
      "%.1f s per figure\n",
      static_cast<long long>(kBatch), static_cast<long long>(kObs), static_cast<long long>(kAct),
      static_cast<long long>(kHidden), device.c_str(), seconds);
  std::printf("%-8s %-7s %10s %10s %10s %10s %8s %10s %12s\n", "variant", "threads", "ours/s",
              "python/s", "sb3/s", "ceiling/s", "GFLOP", "GFLOP/s", "ours/ceiling");
  for (const std::string variant : {"v1", "v2"}) {
    for (const int threads : {1, 2}) {
      const Ceiling c = MeasureCeiling(variant, threads);
      const double ours = MeasureLearner(variant, threads, device, LearnerTuning{}, seconds);
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
      std::printf("%-8s %-7d %10s %10s %10s %10.1f %8.3f %10.1f %11.0f%%\n", variant.c_str(),
                  threads, Fmt(ours).c_str(), Fmt(py).c_str(), Fmt(sb).c_str(), c.updates_per_s,
                  c.gflop, c.gflops, 100.0 * ours / c.updates_per_s);
      std::fflush(stdout);
    }
  }
  if (ablations) {
    std::printf(
        "\nablations (updates/s, same run; each column switches one choice from the default):\n");
    for (const std::string variant : {"v1", "v2"}) {
      for (const int threads : {1, 2}) {
        LearnerTuning all;
        LearnerTuning no_fuse;
        no_fuse.fuse_twin_q = !all.fuse_twin_q;
        LearnerTuning no_fused_adam;
        no_fused_adam.fused_adam = false;
        LearnerTuning no_guard;
        no_guard.no_grad_targets = false;
        std::printf(
            "%s threads=%d: default %s | twin Qs %s %s | per-tensor Adam %s | "
            "targets with autograd %s\n",
            variant.c_str(), threads,
            Fmt(MeasureLearner(variant, threads, device, all, seconds)).c_str(),
            no_fuse.fuse_twin_q ? "fused" : "unfused",
            Fmt(MeasureLearner(variant, threads, device, no_fuse, seconds)).c_str(),
            Fmt(MeasureLearner(variant, threads, device, no_fused_adam, seconds)).c_str(),
            Fmt(MeasureLearner(variant, threads, device, no_guard, seconds)).c_str());
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

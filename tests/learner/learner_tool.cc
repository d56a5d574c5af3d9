// sac_learner_tool: drives the learner core for the cross-process and
// cross-language tests (not a product binary).
//   golden   --variant=v1|v2 --out=DIR [--matmul_dtype=..] [--temperature=ALPHA]
//            [--learn_temperature=false]   one UpdateWithNoise on a fixed batch;
//            writes DIR/before.safetensors (all tensors, the batch, the noise,
//            the config in the metadata) and DIR/after.safetensors (all tensors,
//            the metrics in the metadata).
//   train    --variant=.. --steps=N --save=FILE [--load=FILE] [--threads=T]
//            N updates on deterministic batches (batch k depends only on the
//            update counter k), then a checkpoint.
//   snapshot --variant=.. --out=DIR      a few updates, then DIR/policy.safetensors
//            and DIR/parity.safetensors (observations, noise, the C++ actions).
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "learner/sac_learner.h"
#include "learner/sac_learner_testing.h"
#include "policy/safetensors.h"

namespace sac::learner {
namespace {

constexpr int64_t kObs = 17;
constexpr int64_t kAct = 6;
constexpr int64_t kBatch = 256;

using Batch = HostBatchColumns;

LearnerOptions Options(int threads) {
  LearnerOptions o;
  o.task = "HalfCheetah-v5";
  o.obs_dim = kObs;
  o.act_dim = kAct;
  // Uneven bounds so that the action scale and bias are exercised.
  for (int j = 0; j < kAct; ++j) {
    o.action_low.push_back(-1.0f - 0.1f * j);
    o.action_high.push_back(1.0f + 0.3f * j);
  }
  o.seed = 1234;
  o.threads = threads;
  return o;
}

Batch MakeBatch(const LearnerOptions& o, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  Batch b;
  b.obs_dim = kObs;
  b.act_dim = kAct;
  for (int64_t i = 0; i < kBatch * kObs; ++i) b.obs.push_back(normal(rng));
  for (int64_t i = 0; i < kBatch * kObs; ++i) b.next_obs.push_back(normal(rng));
  for (int64_t i = 0; i < kBatch; ++i) {
    for (int64_t j = 0; j < kAct; ++j) {
      b.action.push_back(o.action_low[j] + (o.action_high[j] - o.action_low[j]) * unit(rng));
    }
  }
  for (int64_t i = 0; i < kBatch; ++i) b.reward.push_back(normal(rng));
  for (int64_t i = 0; i < kBatch; ++i) b.terminated.push_back(unit(rng) < 0.15f);
  for (int64_t i = 0; i < kBatch; ++i) b.truncated.push_back(unit(rng) < 0.15f);
  return b;
}

absl::Status WriteSafetensorsFile(const std::string& path, const std::vector<NamedArray>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  SafetensorsFile file;
  file.metadata = metadata;
  for (const NamedArray& t : tensors) file.tensors[t.name] = SafetensorsTensor{t.shape, t.values};
  return WriteFileAtomically(path, SerializeSafetensors(file));
}

std::string Flag(const std::map<std::string, std::string>& flags, const std::string& name,
                 const std::string& fallback = "") {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "sac_learner_tool: %s\n", status.ToString().c_str());
  return 1;
}

std::string D(double v) { return absl::StrFormat("%.17g", v); }

std::map<std::string, std::string> MetricsMap(const UpdateMetrics& m) {
  return {{"q1_loss", D(m.q1_loss)},
          {"q2_loss", D(m.q2_loss)},
          {"v_loss", D(m.v_loss)},
          {"policy_loss", D(m.policy_loss)},
          {"temperature_loss", D(m.temperature_loss)},
          {"temperature", D(m.temperature)},
          {"mean_log_prob", D(m.mean_log_prob)},
          {"entropy", D(m.entropy)},
          {"q_target_mean", D(m.q_target_mean)},
          {"log_std_mean", D(m.log_std_mean)}};
}

NamedArray Bytes(const std::string& name, const std::vector<uint8_t>& v) {
  return {name, {static_cast<int64_t>(v.size())}, std::vector<float>(v.begin(), v.end())};
}

int Golden(const std::map<std::string, std::string>& flags) {
  v1::SacConfig config;
  config.set_variant(Flag(flags, "variant", "v1"));
  config.set_matmul_dtype(Flag(flags, "matmul_dtype", "float32"));
  if (flags.count("temperature")) {
    double alpha = 0;
    if (!absl::SimpleAtod(Flag(flags, "temperature"), &alpha)) {
      return Fail(absl::InvalidArgumentError("--temperature: not a number"));
    }
    config.set_initial_temperature(alpha);
  }
  if (Flag(flags, "learn_temperature", "true") == "false") config.set_learn_temperature(false);
  const std::string out = Flag(flags, "out");
  const LearnerOptions o = Options(1);
  auto learner = SacLearner::Create(config, o);
  if (!learner.ok()) return Fail(learner.status());
  const Batch b = MakeBatch(o, 42);
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal;
  const int draws = SacLearnerTesting::NoiseDraws(**learner);
  std::vector<float> noise;
  for (int64_t i = 0; i < draws * kBatch * kAct; ++i) noise.push_back(normal(rng));

  std::vector<NamedArray> before = SacLearnerTesting::AllTensors(**learner);
  before.push_back({"batch.obs", {kBatch, kObs}, b.obs});
  before.push_back({"batch.action", {kBatch, kAct}, b.action});
  before.push_back({"batch.reward", {kBatch}, b.reward});
  before.push_back({"batch.next_obs", {kBatch, kObs}, b.next_obs});
  before.push_back(Bytes("batch.terminated", b.terminated));
  before.push_back(Bytes("batch.truncated", b.truncated));
  before.push_back({"noise", {draws, kBatch, kAct}, noise});
  before.push_back({"action_low", {kAct}, o.action_low});
  before.push_back({"action_high", {kAct}, o.action_high});
  const v1::SacConfig& c = (*learner)->config();
  std::map<std::string, std::string> meta = {
      {"variant", c.variant()},
      {"reward_scale", D(c.reward_scale())},
      {"gamma", D(c.gamma())},
      {"tau", D(c.tau())},
      {"learning_rate", D(c.learning_rate())},
      {"temperature", D(c.initial_temperature())},
      {"learn_temperature", c.learn_temperature() ? "true" : "false"},
      {"target_entropy", D(c.target_entropy())},
      {"log_std_min", D(c.log_std_min())},
      {"log_std_max", D(c.log_std_max())},
      {"hidden", absl::StrCat("[", c.hidden_sizes(0), ",", c.hidden_sizes(1), "]")}};
  if (auto s = WriteSafetensorsFile(out + "/before.safetensors", before, meta); !s.ok()) {
    return Fail(s);
  }
  auto metrics = SacLearnerTesting::UpdateWithNoise(**learner, b.host(kBatch), noise);
  if (!metrics.ok()) return Fail(metrics.status());
  if (auto s = WriteSafetensorsFile(out + "/after.safetensors",
                                    SacLearnerTesting::AllTensors(**learner), MetricsMap(*metrics));
      !s.ok()) {
    return Fail(s);
  }
  return 0;
}

int Train(const std::map<std::string, std::string>& flags) {
  v1::SacConfig config;
  config.set_variant(Flag(flags, "variant", "v1"));
  config.set_matmul_dtype(Flag(flags, "matmul_dtype", "float32"));
  int threads = 1;
  uint64_t steps = 0;
  if (!absl::SimpleAtoi(Flag(flags, "threads", "1"), &threads) ||
      !absl::SimpleAtoi(Flag(flags, "steps", "0"), &steps)) {
    return Fail(absl::InvalidArgumentError("bad --threads or --steps"));
  }
  const LearnerOptions o = Options(threads);
  auto learner = SacLearner::Create(config, o);
  if (!learner.ok()) return Fail(learner.status());
  if (const std::string load = Flag(flags, "load"); !load.empty()) {
    if (auto s = (*learner)->LoadCheckpoint(load); !s.ok()) return Fail(s);
  }
  for (uint64_t i = 0; i < steps; ++i) {
    const Batch b = MakeBatch(o, 1000 + (*learner)->updates());
    auto m = (*learner)->Update(b.host(kBatch));
    if (!m.ok()) return Fail(m.status());
  }
  if (auto s = (*learner)->SaveCheckpoint(Flag(flags, "save")); !s.ok()) return Fail(s);
  std::printf("updates=%llu\n", static_cast<unsigned long long>((*learner)->updates()));
  return 0;
}

int Snapshot(const std::map<std::string, std::string>& flags) {
  v1::SacConfig config;
  config.set_variant(Flag(flags, "variant", "v1"));
  config.set_matmul_dtype(Flag(flags, "matmul_dtype", "float32"));
  const std::string out = Flag(flags, "out");
  const LearnerOptions o = Options(1);
  auto learner = SacLearner::Create(config, o);
  if (!learner.ok()) return Fail(learner.status());
  for (int i = 0; i < 5; ++i) {
    const Batch b = MakeBatch(o, 77 + i);
    if (auto m = (*learner)->Update(b.host(kBatch)); !m.ok()) return Fail(m.status());
  }
  v1::PolicyMetadata meta = (*learner)->BaseMetadata();
  meta.set_version(3);
  meta.set_env_steps(12345);
  meta.set_wall_time_seconds(6.25);
  if (auto s = (*learner)->WritePolicySnapshot(out + "/policy.safetensors", meta); !s.ok()) {
    return Fail(s);
  }
  // Observations including large values (saturated tanh) and noise.
  constexpr int64_t n = 64;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> obs, noise;
  for (int64_t i = 0; i < n * kObs; ++i) obs.push_back(normal(rng) * (i < 8 * kObs ? 10.0f : 1.0f));
  for (int64_t i = 0; i < n * kAct; ++i) noise.push_back(normal(rng));
  std::vector<float> det(n * kAct), sto(n * kAct), lp(n);
  if (auto s =
          SacLearnerTesting::PolicyForward(**learner, obs, n, PolicyMode::kDeterministic, {}, det);
      !s.ok()) {
    return Fail(s);
  }
  if (auto s = SacLearnerTesting::PolicyForward(**learner, obs, n, PolicyMode::kStochastic, noise,
                                                sto, lp);
      !s.ok()) {
    return Fail(s);
  }
  std::vector<NamedArray> parity = {{"obs", {n, kObs}, obs},
                                    {"noise", {n, kAct}, noise},
                                    {"deterministic", {n, kAct}, det},
                                    {"stochastic", {n, kAct}, sto},
                                    {"log_prob", {n}, lp}};
  if (auto s = WriteSafetensorsFile(out + "/parity.safetensors", parity, {}); !s.ok()) {
    return Fail(s);
  }
  return 0;
}

}  // namespace
}  // namespace sac::learner

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sac_learner_tool golden|train|snapshot --flag=value ...\n");
    return 2;
  }
  std::map<std::string, std::string> flags;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == std::string::npos) {
      std::fprintf(stderr, "sac_learner_tool: bad argument %s\n", arg.c_str());
      return 2;
    }
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  const std::string mode = argv[1];
  if (mode == "golden") return sac::learner::Golden(flags);
  if (mode == "train") return sac::learner::Train(flags);
  if (mode == "snapshot") return sac::learner::Snapshot(flags);
  std::fprintf(stderr, "sac_learner_tool: unknown mode %s\n", mode.c_str());
  return 2;
}

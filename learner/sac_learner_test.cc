#include "learner/sac_learner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "learner/sac_learner_testing.h"
#include "policy/policy_metadata.h"
#include "policy/safetensors.h"

namespace sac::learner {
namespace {

constexpr int kObs = 5;
constexpr int kAct = 3;

// A deterministic batch: values depend only on (seed, row, column).
using OwnedBatch = HostBatchColumns;

OwnedBatch MakeBatch(int n, int seed) {
  OwnedBatch b;
  b.obs_dim = kObs;
  b.act_dim = kAct;
  for (int i = 0; i < n * kObs; ++i) b.obs.push_back(std::sin(0.37f * i + seed));
  for (int i = 0; i < n * kObs; ++i) b.next_obs.push_back(std::cos(0.21f * i + seed));
  for (int i = 0; i < n * kAct; ++i) b.action.push_back(0.9f * std::sin(1.3f * i + 2.0f * seed));
  for (int i = 0; i < n; ++i) b.reward.push_back(std::cos(0.5f * i * seed + 1.0f));
  b.terminated.assign(n, 0);
  b.truncated.assign(n, 0);
  return b;
}

LearnerOptions Options() {
  LearnerOptions o;
  o.task = "Test-v0";
  o.obs_dim = kObs;
  o.act_dim = kAct;
  o.action_low = {-1, -2, -0.4f};
  o.action_high = {1, 2, 0.4f};
  o.seed = 7;
  o.threads = 1;
  return o;
}

v1::SacConfig Config(const std::string& variant) {
  v1::SacConfig c;
  c.set_variant(variant);
  c.add_hidden_sizes(32);
  c.add_hidden_sizes(16);
  return c;
}

std::unique_ptr<SacLearner> MakeLearner(const std::string& variant) {
  auto learner = SacLearner::Create(Config(variant), Options());
  EXPECT_TRUE(learner.ok()) << learner.status();
  return std::move(learner).value();
}

void ExpectSameTensors(const SacLearner& a, const SacLearner& b) {
  const std::vector<NamedArray> ta = SacLearnerTesting::AllTensors(a),
                                tb = SacLearnerTesting::AllTensors(b);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    ASSERT_EQ(ta[i].name, tb[i].name);
    ASSERT_EQ(ta[i].values, tb[i].values) << ta[i].name;
  }
}

// log pi of the squashed Gaussian in double precision, directly from the
// definition: log N(u; mean, std) - sum log(scale * sech(u)^2).
double DirectLogProb(const double* mean, const double* log_std, const double* eps,
                     const double* scale) {
  double lp = 0;
  for (int j = 0; j < kAct; ++j) {
    const double std = std::exp(log_std[j]);
    const double u = mean[j] + std * eps[j];
    const double z = (u - mean[j]) / std;
    lp += -0.5 * z * z - log_std[j] - 0.5 * std::log(2 * M_PI);
    lp -= std::log(scale[j]) - 2.0 * std::log(std::cosh(u));
  }
  return lp;
}

TEST(SquashedGaussianTest, LogProbMatchesDoublePrecisionIncludingActionsNearTheBounds) {
  // Rows push u = mean + std * eps from 0 to |u| = 15 (tanh(u) within 1e-13 of
  // +-1, where float32 1 - tanh(u)^2 is 0 and a naive log gives -inf).
  std::vector<float> mean, log_std, eps;
  const float scale[kAct] = {1.0f, 2.0f, 0.4f};
  const float bias[kAct] = {0.0f, 0.5f, -0.1f};
  const float us[] = {0.0f, 0.3f, -1.0f, 2.5f, -4.0f, 6.0f, -8.0f, 9.5f, -11.0f, 15.0f};
  const int n = sizeof(us) / sizeof(us[0]);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < kAct; ++j) {
      const float sign = (j % 2 == 0) ? 1.0f : -1.0f;
      mean.push_back(sign * us[i] * 0.75f);
      log_std.push_back(-1.0f + 0.5f * j);
      eps.push_back(sign * us[i] * 0.25f / std::exp(-1.0f + 0.5f * j));
    }
  }
  absl::StatusOr<SquashedSample> s = SampleSquashedGaussian(mean, log_std, eps, scale, bias, n);
  ASSERT_TRUE(s.ok()) << s.status();
  const double dscale[kAct] = {1.0, 2.0, 0.4};
  for (int i = 0; i < n; ++i) {
    double m[kAct], l[kAct], e[kAct];
    for (int j = 0; j < kAct; ++j) {
      m[j] = mean[i * kAct + j];
      l[j] = log_std[i * kAct + j];
      e[j] = eps[i * kAct + j];
      const double u = m[j] + std::exp(l[j]) * e[j];
      const double a = std::tanh(u) * dscale[j] + bias[j];
      EXPECT_NEAR(s->action[i * kAct + j], a, 1e-6) << "row " << i << " dim " << j;
    }
    const double expected = DirectLogProb(m, l, e, dscale);
    ASSERT_TRUE(std::isfinite(s->log_prob[i])) << "row " << i;
    EXPECT_NEAR(s->log_prob[i], expected, 2e-6 * (1.0 + std::abs(expected)))
        << "row " << i << " |u| = " << us[i];
  }
  // The naive float32 formula is what this guards against: at |u| = 9.5 it is -inf.
  const float t = std::tanh(9.5f);
  EXPECT_TRUE(std::isinf(std::log(1.0f - t * t)));
}

TEST(SacLearnerTest, RejectsBadOptionsAndMissingDevices) {
  LearnerOptions o = Options();
  o.action_high[1] = -3;
  EXPECT_EQ(SacLearner::Create(Config("v1"), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.device = "tpu";
  EXPECT_EQ(SacLearner::Create(Config("v1"), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::SacConfig c = Config("v3");
  EXPECT_FALSE(SacLearner::Create(c, Options()).ok());
  o = Options();
  o.device = "cuda:7";
  absl::StatusOr<std::unique_ptr<SacLearner>> cuda = SacLearner::Create(Config("v1"), o);
  ASSERT_FALSE(cuda.ok());  // no machine of ours has 8 GPUs
  EXPECT_EQ(cuda.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cuda.status().message().find("cuda:7' requested but"), std::string::npos)
      << cuda.status();
}

TEST(SacLearnerTest, ResolvesDefaults) {
  v1::SacConfig c;
  LearnerOptions o = Options();
  auto v1 = SacLearner::Create(c, o);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ((*v1)->config().reward_scale(), 5.0);
  EXPECT_EQ((*v1)->config().hidden_sizes_size(), 2);
  EXPECT_EQ((*v1)->config().hidden_sizes(0), 256u);
  o.task = "Humanoid-v5";
  EXPECT_EQ((*SacLearner::Create(c, o))->config().reward_scale(), 20.0);
  c.set_variant("v2");
  auto v2 = SacLearner::Create(c, o);
  EXPECT_EQ((*v2)->config().target_entropy(), -kAct);
  EXPECT_EQ((*v2)->config().reward_scale(), 1.0);
}

TEST(SacLearnerTest, UpdatesProduceFiniteMetricsAndMoveParameters) {
  for (const std::string variant : {"v1", "v2"}) {
    std::unique_ptr<SacLearner> learner = MakeLearner(variant);
    const OwnedBatch b = MakeBatch(64, 1);
    const std::vector<NamedArray> before = SacLearnerTesting::AllTensors(*learner);
    absl::StatusOr<UpdateMetrics> m = learner->Update(b.host(64));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->updates, 1u);
    EXPECT_EQ(learner->updates(), 1u);
    EXPECT_TRUE(std::isfinite(m->q1_loss) && std::isfinite(m->q2_loss));
    EXPECT_TRUE(std::isfinite(m->policy_loss) && std::isfinite(m->entropy));
    EXPECT_DOUBLE_EQ(m->entropy, -m->mean_log_prob);
    EXPECT_DOUBLE_EQ(m->temperature, 1.0);
    if (variant == "v1") {
      EXPECT_TRUE(std::isfinite(m->v_loss));
      EXPECT_TRUE(std::isnan(m->temperature_loss));
    } else {
      EXPECT_TRUE(std::isnan(m->v_loss));
      EXPECT_TRUE(std::isfinite(m->temperature_loss));
      EXPECT_NE(learner->Update(b.host(64))->temperature, 1.0);  // alpha is learned
    }
    const std::vector<NamedArray> after = SacLearnerTesting::AllTensors(*learner);
    ASSERT_EQ(before.size(), after.size());
    for (size_t i = 0; i < before.size(); ++i) {
      if (before[i].name == "log_alpha" && variant == "v1") {
        EXPECT_EQ(before[i].values, after[i].values);  // fixed temperature
      } else {
        EXPECT_NE(before[i].values, after[i].values) << variant << " " << before[i].name;
      }
    }
  }
}

// sac.learn_temperature=false: v2's networks with alpha held at
// initial_temperature; every other tensor trains as in v2.
TEST(SacLearnerTest, V2WithAFixedTemperatureHoldsItAndTrainsTheRest) {
  v1::SacConfig c = Config("v2");
  c.set_learn_temperature(false);
  c.set_initial_temperature(0.2);
  for (const bool manual : {true, false}) {
    LearnerOptions o = Options();
    o.tuning.manual_backward = manual;
    auto learner = SacLearner::Create(c, o);
    ASSERT_TRUE(learner.ok()) << learner.status();
    const std::vector<NamedArray> before = SacLearnerTesting::AllTensors(**learner);
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<UpdateMetrics> m = (*learner)->Update(MakeBatch(32, i).host(32));
      ASSERT_TRUE(m.ok()) << m.status();
      EXPECT_FLOAT_EQ(m->temperature, 0.2f) << "manual " << manual;
      EXPECT_TRUE(std::isnan(m->temperature_loss));
      EXPECT_TRUE(std::isnan(m->v_loss));
    }
    const std::vector<NamedArray> after = SacLearnerTesting::AllTensors(**learner);
    ASSERT_EQ(before.size(), after.size());
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(before[i].name.find("adam.exp_avg.log_alpha"), std::string::npos);
      if (before[i].name == "log_alpha") {
        EXPECT_EQ(before[i].values, after[i].values);
      } else {
        EXPECT_NE(before[i].values, after[i].values) << before[i].name;
      }
    }
  }
  // A checkpoint keeps to its kind of temperature.
  const std::string path = ::testing::TempDir() + "/fixed_alpha.ckpt";
  auto fixed = SacLearner::Create(c, Options());
  ASSERT_TRUE(fixed.ok());
  ASSERT_TRUE((*fixed)->SaveCheckpoint(path).ok());
  const absl::Status s = MakeLearner("v2")->LoadCheckpoint(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("variant v2 (fixed temperature)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("this learner is variant v2 (learned temperature)"), std::string::npos)
      << s;
  // v1 ignores the switch, set or not: a process's config carries every field
  // with its default (learn_temperature: true), and v1 must still start.
  v1::SacConfig v1_config = Config("v1");
  v1_config.set_learn_temperature(true);
  auto v1_learner = SacLearner::Create(v1_config, Options());
  ASSERT_TRUE(v1_learner.ok()) << v1_learner.status();
  for (int i = 0; i < 3; ++i) {  // a learned alpha would have moved by the second
    const absl::StatusOr<UpdateMetrics> m = (*v1_learner)->Update(MakeBatch(32, i).host(32));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_DOUBLE_EQ(m->temperature, 1.0);
    EXPECT_TRUE(std::isnan(m->temperature_loss));
  }
  // Resuming a fixed temperature takes this learner's value.
  c.set_initial_temperature(0.3);
  auto other = SacLearner::Create(c, Options());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->LoadCheckpoint(path).ok());
  int log_alphas = 0;
  for (const NamedArray& t : SacLearnerTesting::AllTensors(**other)) {
    if (t.name == "log_alpha") {
      EXPECT_FLOAT_EQ(t.values[0], std::log(0.3f));
      ++log_alphas;
    }
  }
  EXPECT_EQ(log_alphas, 1);
  EXPECT_FLOAT_EQ((*other)->Update(MakeBatch(32, 0).host(32))->temperature, 0.3f);
}

TEST(SacLearnerTest, TerminatedStopsBootstrappingTruncatedDoesNot) {
  for (const std::string variant : {"v1", "v2"}) {
    std::unique_ptr<SacLearner> plain = MakeLearner(variant);
    std::unique_ptr<SacLearner> truncated = MakeLearner(variant);
    std::unique_ptr<SacLearner> terminated = MakeLearner(variant);
    OwnedBatch b = MakeBatch(32, 2);
    const UpdateMetrics m_plain = *plain->Update(b.host(32));
    b.truncated.assign(32, 1);
    const UpdateMetrics m_trunc = *truncated->Update(b.host(32));
    b.truncated.assign(32, 0);
    b.terminated.assign(32, 1);
    const UpdateMetrics m_term = *terminated->Update(b.host(32));
    // Truncation changes nothing: same targets, same updated parameters.
    EXPECT_EQ(m_plain.q_target_mean, m_trunc.q_target_mean) << variant;
    ExpectSameTensors(*plain, *truncated);
    // Termination leaves Q-hat = scaled reward.
    double mean_reward = 0;
    for (const float r : b.reward) mean_reward += r;
    mean_reward /= 32;
    EXPECT_NEAR(m_term.q_target_mean, terminated->config().reward_scale() * mean_reward, 1e-5)
        << variant;
    EXPECT_GT(std::abs(m_term.q_target_mean - m_plain.q_target_mean), 1e-3) << variant;
  }
}

TEST(SacLearnerTest, TuningSwitchesDoNotChangeTheMath) {
  for (const std::string variant : {"v1", "v2"}) {
    std::vector<std::vector<NamedArray>> results;
    // Bit 3 chooses the hand-written update (set) or autograd; the graph
    // switches (bits 0, 2) only matter for autograd, bit 4 (stacked Q rows)
    // only for the hand-written update, Adam's (bit 1) for both.
    for (int mask = 0; mask < 32; ++mask) {
      LearnerOptions o = Options();
      o.tuning.fuse_twin_q = mask & 1;
      o.tuning.fused_adam = mask & 2;
      o.tuning.no_grad_targets = mask & 4;
      o.tuning.manual_backward = mask & 8;
      o.tuning.stack_q_rows = mask & 16;
      auto learner = SacLearner::Create(Config(variant), o);
      ASSERT_TRUE(learner.ok());
      for (int i = 0; i < 3; ++i) ASSERT_TRUE((*learner)->Update(MakeBatch(32, i).host(32)).ok());
      results.push_back(SacLearnerTesting::AllTensors(**learner));
    }
    for (size_t r = 1; r < results.size(); ++r) {
      for (size_t t = 0; t < results[0].size(); ++t) {
        for (size_t k = 0; k < results[0][t].values.size(); ++k) {
          ASSERT_NEAR(results[r][t].values[k], results[0][t].values[k], 1e-5)
              << variant << " switches " << r << " " << results[0][t].name << "[" << k << "]";
        }
      }
    }
  }
}

TEST(SacLearnerTest, BfloatProductsOnlyInTheHandWrittenUpdate) {
  v1::SacConfig c = Config("v2");
  c.set_matmul_dtype("float16");
  EXPECT_EQ(SacLearner::Create(c, Options()).status().code(), absl::StatusCode::kInvalidArgument);
  c.set_matmul_dtype("bfloat16");
  LearnerOptions o = Options();
  o.tuning.manual_backward = false;
  const absl::Status autograd = SacLearner::Create(c, o).status();
  EXPECT_EQ(autograd.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(autograd.message().find("applies to the hand-written CPU update"), std::string::npos)
      << autograd;
}

// bfloat16 products: the Q rows stacked or not give the same update (each
// product row depends only on its own operand row), and the update differs
// from float32's (the products really ran in bfloat16).
TEST(SacLearnerTest, BfloatUpdateSameStackedOrNot) {
  for (const std::string variant : {"v1", "v2"}) {
    v1::SacConfig c = Config(variant);
    c.set_matmul_dtype("bfloat16");
    std::vector<std::vector<NamedArray>> results;
    for (const bool stack : {true, false}) {
      LearnerOptions o = Options();
      o.tuning.stack_q_rows = stack;
      auto learner = SacLearner::Create(c, o);
      if (!learner.ok()) {
        ASSERT_EQ(learner.status().code(), absl::StatusCode::kFailedPrecondition);
        GTEST_SKIP() << learner.status();  // a CPU without bfloat16 products
      }
      for (int i = 0; i < 3; ++i) ASSERT_TRUE((*learner)->Update(MakeBatch(32, i).host(32)).ok());
      results.push_back(SacLearnerTesting::AllTensors(**learner));
    }
    std::unique_ptr<SacLearner> f32 = MakeLearner(variant);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(f32->Update(MakeBatch(32, i).host(32)).ok());
    const std::vector<NamedArray> float32 = SacLearnerTesting::AllTensors(*f32);
    int differ = 0;
    for (size_t t = 0; t < results[0].size(); ++t) {
      for (size_t k = 0; k < results[0][t].values.size(); ++k) {
        ASSERT_NEAR(results[1][t].values[k], results[0][t].values[k], 1e-5)
            << variant << " " << results[0][t].name << "[" << k << "]";
      }
      differ += results[0][t].values != float32[t].values;
    }
    EXPECT_GT(differ, 10) << variant;
  }
}

TEST(SacLearnerTest, CheckpointRestoresStateAndNoise) {
  const std::string dir = ::testing::TempDir();
  for (const std::string variant : {"v1", "v2"}) {
    std::unique_ptr<SacLearner> a = MakeLearner(variant);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->Update(MakeBatch(16, i).host(16)).ok());
    const std::string path = absl::StrCat(dir, "/ckpt_", variant);
    ASSERT_TRUE(a->SaveCheckpoint(path, "caller state").ok());
    LearnerOptions o = Options();
    o.seed = 99;  // different initial weights and noise: all overwritten by the load
    std::unique_ptr<SacLearner> b = std::move(SacLearner::Create(Config(variant), o)).value();
    std::string extra;
    ASSERT_TRUE(b->LoadCheckpoint(path, &extra).ok());
    EXPECT_EQ(extra, "caller state");
    EXPECT_EQ(b->updates(), 3u);
    ExpectSameTensors(*a, *b);
    const UpdateMetrics ma = *a->Update(MakeBatch(16, 5).host(16));
    const UpdateMetrics mb = *b->Update(MakeBatch(16, 5).host(16));
    EXPECT_EQ(ma.policy_loss, mb.policy_loss);
    ExpectSameTensors(*a, *b);
  }
}

TEST(SacLearnerTest, CheckpointLoadRejectsTornForeignAndMismatchedFiles) {
  const std::string dir = ::testing::TempDir();
  std::unique_ptr<SacLearner> v1 = MakeLearner("v1");
  std::unique_ptr<SacLearner> v2 = MakeLearner("v2");
  const std::string path = dir + "/v2.ckpt";
  ASSERT_TRUE(v2->SaveCheckpoint(path).ok());
  absl::Status s = v1->LoadCheckpoint(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("checkpoint is for variant v2"), std::string::npos) << s;

  LearnerOptions other_bounds = Options();
  other_bounds.action_high[0] = 3;
  auto v2b = SacLearner::Create(Config("v2"), other_bounds);
  ASSERT_TRUE(v2b.ok());
  EXPECT_EQ((*v2b)->LoadCheckpoint(path).code(), absl::StatusCode::kFailedPrecondition);

  const std::string image = *ReadWholeFile(path);
  const std::string torn = dir + "/torn.ckpt";
  ASSERT_TRUE(WriteFileAtomically(torn, image.substr(0, image.size() / 2)).ok());
  const std::vector<NamedArray> before = SacLearnerTesting::AllTensors(*v2);
  s = v2->LoadCheckpoint(torn);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("torn"), std::string::npos) << s;
  const std::string foreign = dir + "/foreign.ckpt";
  ASSERT_TRUE(WriteFileAtomically(foreign, "{\"not\": \"a checkpoint\"}").ok());
  s = v2->LoadCheckpoint(foreign);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  const std::vector<NamedArray> after = SacLearnerTesting::AllTensors(*v2);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].values, after[i].values);
}

TEST(SacLearnerTest, PolicyForwardModes) {
  std::unique_ptr<SacLearner> learner = MakeLearner("v2");
  const OwnedBatch b = MakeBatch(8, 3);
  std::vector<float> det(size_t{8} * kAct), det2(size_t{8} * kAct), sto(size_t{8} * kAct), lp(8);
  ASSERT_TRUE(
      SacLearnerTesting::PolicyForward(*learner, b.obs, 8, PolicyMode::kDeterministic, {}, det)
          .ok());
  ASSERT_TRUE(
      SacLearnerTesting::PolicyForward(*learner, b.obs, 8, PolicyMode::kDeterministic, {}, det2)
          .ok());
  EXPECT_EQ(det, det2);
  ASSERT_TRUE(
      SacLearnerTesting::PolicyForward(*learner, b.obs, 8, PolicyMode::kStochastic, {}, sto, lp)
          .ok());
  EXPECT_NE(det, sto);
  const LearnerOptions o = Options();
  for (int i = 0; i < 8 * kAct; ++i) {
    EXPECT_GE(sto[i], o.action_low[i % kAct]);
    EXPECT_LE(sto[i], o.action_high[i % kAct]);
  }
  for (const float l : lp) EXPECT_TRUE(std::isfinite(l));
  // Zero noise gives the deterministic action.
  std::vector<float> zero(size_t{8} * kAct, 0.0f), sto0(size_t{8} * kAct);
  ASSERT_TRUE(
      SacLearnerTesting::PolicyForward(*learner, b.obs, 8, PolicyMode::kStochastic, zero, sto0)
          .ok());
  for (int i = 0; i < 8 * kAct; ++i) EXPECT_NEAR(sto0[i], det[i], 1e-6);
  EXPECT_FALSE(
      SacLearnerTesting::PolicyForward(*learner, b.obs, 7, PolicyMode::kDeterministic, {}, det)
          .ok());
}

TEST(SacLearnerTest, PolicyTensorsHaveTheDocumentedNamesAndShapes) {
  std::unique_ptr<SacLearner> learner = MakeLearner("v1");
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const NamedArray& t : learner->PolicyTensors()) {
    names.push_back(t.name);
    shapes.push_back(t.shape);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"policy.fc0.weight", "policy.fc0.bias", "policy.fc1.weight",
                                      "policy.fc1.bias", "policy.mean.weight", "policy.mean.bias",
                                      "policy.log_std.weight", "policy.log_std.bias"}));
  EXPECT_EQ(shapes, (std::vector<std::vector<int64_t>>{
                        {32, kObs}, {32}, {16, 32}, {16}, {kAct, 16}, {kAct}, {kAct, 16}, {kAct}}));
  v1::PolicyMetadata m = learner->BaseMetadata();
  m.set_version(4);
  m.set_env_steps(5000);
  const std::string path = ::testing::TempDir() + "/policy.safetensors";
  ASSERT_TRUE(learner->WritePolicySnapshot(path, m).ok());
  // Read back with the project's checked reader: same tensors, same metadata.
  absl::StatusOr<SafetensorsFile> file = ReadSafetensorsFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  for (const NamedArray& t : learner->PolicyTensors()) {
    ASSERT_EQ(file->tensors.count(t.name), 1u) << t.name;
    EXPECT_EQ(file->tensors[t.name].shape, t.shape);
    EXPECT_EQ(file->tensors[t.name].values, t.values);
  }
  absl::StatusOr<v1::PolicyMetadata> back = PolicyMetadataFromStrings(file->metadata);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), m.SerializeAsString());
  m.set_obs_dim(4);
  EXPECT_EQ(learner->WritePolicySnapshot(path, m).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sac::learner

#include "policy/policy_mlp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"
#include "policy/policy_testing.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

// A random policy 3 -> 5 -> 4 -> 2 with bounds [-2, 1] x [0, 4].
v1::Policy RandomPolicy(uint64_t seed) {
  v1::PolicyMetadata metadata;
  auto* m = &metadata;
  m->set_task("Test");
  m->set_obs_dim(3);
  m->set_act_dim(2);
  m->add_hidden_sizes(5);
  m->add_hidden_sizes(4);
  m->set_activation("relu");
  m->set_log_std_min(-5);
  m->set_log_std_max(1);
  m->set_version(7);
  EncodeVector(std::vector<float>{-2, 0}, m->mutable_action_low());
  EncodeVector(std::vector<float>{1, 4}, m->mutable_action_high());
  return MakePolicyMessage(metadata, UniformValues(seed, 0.7f));
}

std::vector<double> Get(const v1::Policy& p, const std::string& name) {
  for (const auto& t : p.tensors()) {
    if (t.name() == name) {
      auto v = DecodeTensor(t.tensor(), name);
      return std::vector<double>(v->values().begin(), v->values().end());
    }
  }
  return {};
}

// Straightforward double-precision forward: the reference.
std::vector<double> Layer(const v1::Policy& p, const std::string& prefix,
                          const std::vector<double>& x, int out, bool relu) {
  const auto w = Get(p, prefix + ".weight");
  const auto b = Get(p, prefix + ".bias");
  std::vector<double> y(out);
  for (int o = 0; o < out; ++o) {
    double s = b[o];
    for (size_t i = 0; i < x.size(); ++i) s += w[o * x.size() + i] * x[i];
    y[o] = relu ? std::max(0.0, s) : s;
  }
  return y;
}

TEST(PolicyMlp, DeterministicMatchesReference) {
  const v1::Policy policy = RandomPolicy(3);
  auto mlp = PolicyMlp::FromPolicy(policy);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  EXPECT_EQ((*mlp)->version(), 7u);
  const std::vector<float> obs = {0.1f, -0.5f, 2.f, 1.f, 1.f, -1.f, 0.f, 0.f, 0.f};
  std::vector<float> actions(6);
  (*mlp)->Act(obs, 3, true, nullptr, actions);
  const double low[2] = {-2, 0}, high[2] = {1, 4};
  for (ptrdiff_t r = 0; r < 3; ++r) {
    std::vector<double> x(obs.begin() + 3 * r, obs.begin() + 3 * r + 3);
    auto h = Layer(policy, "policy.fc1", Layer(policy, "policy.fc0", x, 5, true), 4, true);
    auto mu = Layer(policy, "policy.mean", h, 2, false);
    for (int j = 0; j < 2; ++j) {
      const double expected = std::tanh(mu[j]) * (high[j] - low[j]) / 2 + (high[j] + low[j]) / 2;
      EXPECT_NEAR(actions[2 * r + j], expected, 1e-5) << "row " << r << " dim " << j;
    }
  }
}

TEST(PolicyMlp, StochasticActionsStayInBoundsAndSpreadAroundMean) {
  auto mlp = PolicyMlp::FromPolicy(RandomPolicy(4));
  ASSERT_TRUE(mlp.ok());
  std::mt19937_64 rng(1);
  const int n = 4000;
  std::vector<float> obs(size_t{3} * n, 0.3f), actions(size_t{2} * n), mean(2);
  (*mlp)->Act(std::span<const float>(obs.data(), 3), 1, true, nullptr, mean);
  (*mlp)->Act(obs, n, false, &rng, actions);
  double var = 0;
  for (size_t r = 0; r < static_cast<size_t>(n); ++r) {
    EXPECT_GE(actions[2 * r], -2.f);
    EXPECT_LE(actions[2 * r], 1.f);
    EXPECT_GE(actions[2 * r + 1], 0.f);
    EXPECT_LE(actions[2 * r + 1], 4.f);
    var += (actions[2 * r] - mean[0]) * (actions[2 * r] - mean[0]);
  }
  EXPECT_GT(var / n, 1e-4);  // stochastic: not the mean every time
  std::mt19937_64 again(1);
  std::vector<float> actions2(size_t{2} * n);
  (*mlp)->Act(obs, n, false, &again, actions2);
  EXPECT_EQ(actions, actions2);  // same seed, same samples
}

TEST(PolicyMlp, RejectsMissingOrMisshapenTensors) {
  v1::Policy p = RandomPolicy(5);
  p.mutable_tensors()->RemoveLast();
  EXPECT_THAT(PolicyMlp::FromPolicy(p).status().message(), HasSubstr("policy.log_std"));
  v1::Policy q = RandomPolicy(5);
  q.mutable_metadata()->set_obs_dim(4);
  EXPECT_THAT(PolicyMlp::FromPolicy(q).status().message(),
              HasSubstr("policy.fc0.weight: shape [5, 3], expected [5, 4]"));
  v1::Policy r = RandomPolicy(5);
  r.mutable_tensors(0)->mutable_tensor()->mutable_data()->replace(0, 4, "\x00\x00\xc0\x7f", 4);
  EXPECT_THAT(PolicyMlp::FromPolicy(r).status().message(), HasSubstr("not finite"));
}

TEST(PolicyMlp, FromSafetensorsWithMetadata) {
  const v1::Policy policy = RandomPolicy(6);
  SafetensorsFile file;
  for (const auto& t : policy.tensors()) {
    auto v = DecodeTensor(t.tensor(), t.name());
    file.tensors[t.name()] = {v->shape(), {v->values().begin(), v->values().end()}};
  }
  file.metadata = PolicyMetadataToStrings(policy.metadata());
  auto parsed = ParseSafetensors(SerializeSafetensors(file));
  ASSERT_TRUE(parsed.ok());
  auto a = PolicyMlp::FromSafetensors(*parsed);
  auto b = PolicyMlp::FromPolicy(policy);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->metadata().SerializeAsString(), policy.metadata().SerializeAsString());
  std::vector<float> obs = {1, 2, 3}, x(2), y(2);
  (*a)->Act(obs, 1, true, nullptr, x);
  (*b)->Act(obs, 1, true, nullptr, y);
  EXPECT_EQ(x, y);
  file.metadata.erase("act_dim");
  EXPECT_THAT(PolicyMlp::FromSafetensors(file).status().message(), HasSubstr("'act_dim'"));
}

}  // namespace
}  // namespace sac

// The policy the learner trains and the policy actors run (policy/policy_mlp.h,
// OpenBLAS, no LibTorch) must act the same: published tensors and the snapshot
// file both rebuild the learner's own deterministic policy.
#include <gtest/gtest.h>

#include <random>

#include "common/tensor_codec.h"
#include "learner/sac_learner.h"
#include "learner/sac_learner_testing.h"
#include "policy/policy_mlp.h"
#include "policy/safetensors.h"
#include "tests/testing/process.h"

namespace sac::learner {
namespace {

struct Dims {
  int obs, act;
  float bound;
  const char* variant;
};

class PolicyConsistency : public ::testing::TestWithParam<Dims> {};

TEST_P(PolicyConsistency, ActorPolicyActsLikeLearnerPolicy) {
  const Dims d = GetParam();
  v1::SacConfig config;
  config.set_variant(d.variant);
  config.add_hidden_sizes(32);
  config.add_hidden_sizes(16);
  LearnerOptions options;
  options.task = "Test";
  options.obs_dim = d.obs;
  options.act_dim = d.act;
  options.action_low.assign(d.act, -d.bound);
  options.action_high.assign(d.act, d.bound);
  options.seed = 5;
  auto learner = SacLearner::Create(config, options);
  ASSERT_TRUE(learner.ok()) << learner.status();

  v1::Policy policy;
  *policy.mutable_metadata() = (*learner)->BaseMetadata();
  policy.mutable_metadata()->set_version(3);
  for (const auto& t : (*learner)->PolicyTensors()) {
    auto* named = policy.add_tensors();
    named->set_name(t.name);
    EncodeTensor(t.values, t.shape, named->mutable_tensor());
  }
  auto from_rpc = PolicyMlp::FromPolicy(policy);
  ASSERT_TRUE(from_rpc.ok()) << from_rpc.status();
  const std::string path = testing::MakeTempDir("consistency") + "/p.safetensors";
  ASSERT_TRUE((*learner)->WritePolicySnapshot(path, policy.metadata()).ok());
  auto file = ReadSafetensorsFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto from_file = PolicyMlp::FromSafetensors(*file);
  ASSERT_TRUE(from_file.ok()) << from_file.status();

  const int n = 64;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 2.f);
  std::vector<float> obs(static_cast<size_t>(n) * d.obs);
  for (float& x : obs) x = normal(rng);
  std::vector<float> want(static_cast<size_t>(n) * d.act), a(want.size()), b(want.size());
  ASSERT_TRUE(
      SacLearnerTesting::PolicyForward(**learner, obs, n, PolicyMode::kDeterministic, {}, want)
          .ok());
  (*from_rpc)->Act(obs, n, true, nullptr, a);
  (*from_file)->Act(obs, n, true, nullptr, b);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(a[i], want[i], 1e-5) << "element " << i;
    EXPECT_EQ(a[i], b[i]) << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Tasks, PolicyConsistency,
                         ::testing::Values(Dims{4, 1, 3.f, "v1"}, Dims{17, 6, 1.f, "v1"},
                                           Dims{17, 6, 1.f, "v2"}, Dims{348, 17, 0.4f, "v2"}));

}  // namespace
}  // namespace sac::learner

#include "policy/policy_weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"
#include "policy/policy_testing.h"

namespace sac {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A policy 2 -> 3 -> 1 with bounds [-1, 3]; every tensor value is its index.
SafetensorsFile SmallSnapshot() {
  v1::PolicyMetadata m;
  m.set_task("Test");
  m.set_obs_dim(2);
  m.set_act_dim(1);
  m.add_hidden_sizes(3);
  m.set_activation("relu");
  m.set_variant("v2");
  m.set_log_std_min(-5);
  m.set_log_std_max(1);
  EncodeVector(std::vector<float>{-1}, m.mutable_action_low());
  EncodeVector(std::vector<float>{3}, m.mutable_action_high());
  return MakePolicySnapshot(m, [](const std::string&, size_t i) { return static_cast<float>(i); });
}

TEST(PolicyWeights, ResolvesLayersTransformAndClamp) {
  auto w = PolicyWeightsFromSafetensors(SmallSnapshot());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->obs_dim, 2);
  EXPECT_EQ(w->act_dim, 1);
  ASSERT_EQ(w->hidden.size(), 1u);
  EXPECT_EQ(w->hidden[0].name, "policy.fc0");
  EXPECT_EQ(w->hidden[0].in, 2);
  EXPECT_EQ(w->hidden[0].out, 3);
  EXPECT_THAT(w->hidden[0].weight, ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(w->mean.name, "policy.mean");
  EXPECT_EQ(w->log_std.name, "policy.log_std");
  EXPECT_THAT(w->action_scale, ElementsAre(2.0f));
  EXPECT_THAT(w->action_bias, ElementsAre(1.0f));
  EXPECT_EQ(w->log_std_min, -5.0f);
  EXPECT_EQ(w->log_std_max, 1.0f);
  EXPECT_EQ(w->metadata.variant(), "v2");
}

TEST(PolicyWeights, EmptyClampRangeMeansTheLearnerDefaults) {
  SafetensorsFile file = SmallSnapshot();
  file.metadata["log_std_min"] = "0";
  file.metadata["log_std_max"] = "0";
  auto w = PolicyWeightsFromSafetensors(file);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->log_std_min, kDefaultLogStdMin);
  EXPECT_EQ(w->log_std_max, kDefaultLogStdMax);
}

TEST(PolicyWeights, ErrorsNameWhatIsWrong) {
  SafetensorsFile file = SmallSnapshot();
  file.tensors.erase("policy.mean.bias");
  EXPECT_THAT(PolicyWeightsFromSafetensors(file).status().message(),
              HasSubstr("missing policy.mean.weight or policy.mean.bias"));
  file = SmallSnapshot();
  file.tensors["policy.log_std.weight"].shape = {3, 1};
  EXPECT_THAT(PolicyWeightsFromSafetensors(file).status().message(),
              HasSubstr("policy.log_std.weight: shape [3, 1], expected [1, 3]"));
  file = SmallSnapshot();
  file.tensors["policy.fc0.bias"].values[1] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(PolicyWeightsFromSafetensors(file).status().message(), HasSubstr("not finite"));
  file = SmallSnapshot();
  file.metadata["action_high"] = "[-1]";
  EXPECT_THAT(PolicyWeightsFromSafetensors(file).status().message(),
              HasSubstr("action_high[0] is not above action_low[0]"));
  file = SmallSnapshot();
  file.metadata["activation"] = "tanh";
  EXPECT_THAT(PolicyWeightsFromSafetensors(file).status().message(),
              HasSubstr("activation 'tanh', only relu is known"));
  file = SmallSnapshot();
  file.metadata.erase("hidden_sizes");
  EXPECT_THAT(PolicyWeightsFromSafetensors(file).status().message(), HasSubstr("'hidden_sizes'"));
}

}  // namespace
}  // namespace sac

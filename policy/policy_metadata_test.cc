#include "policy/policy_metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/tensor_codec.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

v1::PolicyMetadata Sample() {
  v1::PolicyMetadata m;
  m.set_task("Hopper-v5");
  m.set_obs_dim(11);
  m.set_act_dim(3);
  m.add_hidden_sizes(256);
  m.add_hidden_sizes(256);
  m.set_activation("relu");
  m.set_variant("v2");
  m.set_version(4);
  m.set_env_steps(1234);
  m.set_updates(99);
  m.set_wall_time_seconds(1.5);
  m.set_log_std_min(-20);
  m.set_log_std_max(2);
  EncodeVector(std::vector<float>(3, -1.f), m.mutable_action_low());
  EncodeVector(std::vector<float>(3, 1.f), m.mutable_action_high());
  return m;
}

TEST(PolicyMetadata, RoundTripNamesTheOutputTransform) {
  const auto strings = PolicyMetadataToStrings(Sample());
  EXPECT_EQ(strings.at("format"), "sac-cluster-policy/1");
  EXPECT_EQ(strings.at("squash"), "tanh");
  EXPECT_EQ(strings.at("action_transform"), "affine_to_bounds");
  EXPECT_EQ(strings.at("hidden_sizes"), "[256,256]");
  auto back = PolicyMetadataFromStrings(strings);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), Sample().SerializeAsString());
}

TEST(PolicyMetadata, OlderFilesWithoutTransformKeysStillRead) {
  auto strings = PolicyMetadataToStrings(Sample());
  strings.erase("squash");
  strings.erase("action_transform");
  auto back = PolicyMetadataFromStrings(strings);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->env_steps(), 1234u);
}

TEST(PolicyMetadata, RefusesATransformItDoesNotKnow) {
  auto strings = PolicyMetadataToStrings(Sample());
  strings["squash"] = "clip";
  auto back = PolicyMetadataFromStrings(strings);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(), HasSubstr("squash 'clip'"));
  strings = PolicyMetadataToStrings(Sample());
  strings["action_transform"] = "none";
  back = PolicyMetadataFromStrings(strings);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(), HasSubstr("action_transform 'none'"));
}

TEST(PolicyMetadata, MissingKeyIsNamed) {
  auto strings = PolicyMetadataToStrings(Sample());
  strings.erase("updates");
  EXPECT_THAT(PolicyMetadataFromStrings(strings).status().message(),
              HasSubstr("missing 'updates'"));
}

}  // namespace
}  // namespace sac

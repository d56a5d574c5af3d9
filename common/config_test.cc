#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "sac/v1/learner_config.pb.h"
#include "sac/v1/replay_config.pb.h"
#include "sac/v1/sacctl_config.pb.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<CommandLine> Parse(const std::vector<std::string>& args,
                                  google::protobuf::Message* m, bool positional = false) {
  std::vector<const char*> argv = {"prog"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), m, positional);
}

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/sac_config_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsFromSchema) {
  v1::ReplayServerConfig c;
  FillDefaults(&c);
  EXPECT_EQ(c.capacity(), 1000000u);
  EXPECT_EQ(c.rate_limiter().samples_per_insert(), 256);
  EXPECT_TRUE(c.durability().enabled());
  EXPECT_EQ(c.server().grpc_address(), "127.0.0.1:0");
  // The effective config names every field with its value.
  const std::string text = ConfigToText(c);
  EXPECT_THAT(text, HasSubstr("capacity: 1000000"));
  EXPECT_THAT(text, HasSubstr("min_size_to_sample: 10000"));
  v1::LearnerConfig l;
  FillDefaults(&l);
  EXPECT_TRUE(std::isnan(l.sac().target_entropy()));
  EXPECT_EQ(l.sac().variant(), "v1");
  EXPECT_TRUE(ValidateRanges(l).ok());
}

TEST(Config, OverridePrecedenceFileThenFlagsInOrder) {
  const std::string path =
      WriteTemp("capacity: 500\nrate_limiter { min_size_to_sample: 7 samples_per_insert: 3 }\n");
  v1::ReplayServerConfig c;
  auto cl = Parse({"--capacity=900", "--config=" + path, "--rate_limiter.min_size_to_sample=11",
                   "--rate_limiter.min_size_to_sample=12"},
                  &c);
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(c.capacity(), 900u);  // flags beat the file wherever they appear
  EXPECT_EQ(c.rate_limiter().min_size_to_sample(), 12u);  // the last flag wins
  EXPECT_EQ(c.rate_limiter().samples_per_insert(), 3);    // from the file
  std::remove(path.c_str());
}

TEST(Config, RepeatedFlagReplacesList) {
  v1::LearnerConfig c;
  c.add_replay_addresses("old:1");
  ASSERT_TRUE(Parse({"--replay_addresses=a:1, b:2", "--sac.hidden_sizes=64,32"}, &c).ok());
  ASSERT_EQ(c.replay_addresses_size(), 2);
  EXPECT_EQ(c.replay_addresses(1), "b:2");
  EXPECT_EQ(c.sac().hidden_sizes(1), 32u);
}

// sacctl local's pass-through flags: each --learner_flag is one more flag for
// the learner, whole (its own value may hold commas), after any from the file.
TEST(Config, AppendFlagAddsEachValueWhole) {
  v1::LocalCommand c;
  const std::string path = WriteTemp("learner_flag: \"--seed=3\"\n");
  ASSERT_TRUE(Parse({"--learner_flag=--sac.matmul_dtype=bfloat16", "--config=" + path,
                     "--learner_flag=--sac.hidden_sizes=64,64", "--actor_flag=--a=1,2"},
                    &c)
                  .ok());
  ASSERT_EQ(c.learner_flag_size(), 3);
  EXPECT_EQ(c.learner_flag(0), "--seed=3");
  EXPECT_EQ(c.learner_flag(1), "--sac.matmul_dtype=bfloat16");
  EXPECT_EQ(c.learner_flag(2), "--sac.hidden_sizes=64,64");
  ASSERT_EQ(c.actor_flag_size(), 1);
  EXPECT_EQ(c.actor_flag(0), "--a=1,2");
  EXPECT_EQ(c.replay_flag_size(), 0);
  const std::string help = FlagHelp(v1::LocalCommand::descriptor());
  EXPECT_THAT(help, HasSubstr("--learner_flag (string, repeatable)"));
  EXPECT_THAT(help, HasSubstr("--hidden_sizes (list of uint32)"));
  std::remove(path.c_str());
}

TEST(Config, UnknownFlagNamesIt) {
  v1::ReplayServerConfig c;
  auto cl = Parse({"--capacty=5"}, &c);
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cl.status().message(), HasSubstr("unknown flag --capacty"));
  EXPECT_THAT(cl.status().message(), HasSubstr("capacity"));  // lists the known fields
  auto nested = Parse({"--rate_limiter.nope=1"}, &c);
  EXPECT_THAT(nested.status().message(), HasSubstr("no field 'nope' in RateLimiterConfig"));
}

TEST(Config, UnknownFieldInFileNamesFileAndLine) {
  const std::string path = WriteTemp("capacity: 5\nbogus_field: 3\n");
  v1::ReplayServerConfig c;
  auto cl = Parse({"--config=" + path}, &c);
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(cl.status().message(), HasSubstr(path + ":2"));
  EXPECT_THAT(cl.status().message(), HasSubstr("bogus_field"));
  EXPECT_FALSE(c.has_capacity());  // nothing of the bad file applied
  std::remove(path.c_str());
}

TEST(Config, MissingFile) {
  v1::ReplayServerConfig c;
  auto cl = Parse({"--config=/nonexistent/x.txtpb"}, &c);
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kNotFound);
}

TEST(Config, BadValueNamesFlagAndChangesNothing) {
  v1::ReplayServerConfig c;
  c.set_capacity(42);
  auto cl = Parse({"--capacity=lots"}, &c);
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(cl.status().message(), HasSubstr("--capacity: 'lots' is not a valid uint64"));
  EXPECT_EQ(c.capacity(), 42u);
  EXPECT_FALSE(Parse({"--capacity=-1"}, &c).ok());
  // A value cannot smuggle in a second field.
  EXPECT_FALSE(Parse({"--capacity=3 shard_index: 4"}, &c).ok());
  EXPECT_FALSE(Parse({"--capacity=3,4"}, &c).ok());
  EXPECT_FALSE(Parse({"--capacity=3 capacity: 4"}, &c).ok());
  EXPECT_EQ(c.capacity(), 42u);
  EXPECT_EQ(c.shard_index(), 0u);
  EXPECT_FALSE(Parse({"--durability.enabled=maybe"}, &c).ok());
  EXPECT_TRUE(Parse({"--durability.enabled=false"}, &c).ok());
  EXPECT_FALSE(c.durability().enabled());
  EXPECT_TRUE(Parse({"--durability.enabled"}, &c).ok());  // bare bool flag
  EXPECT_TRUE(c.durability().enabled());
}

TEST(Config, MessageFlagNeedsAField) {
  v1::ReplayServerConfig c;
  auto cl = Parse({"--rate_limiter=3"}, &c);
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(cl.status().message(), HasSubstr("group of settings"));
}

TEST(Config, OutOfRangeValuesNameField) {
  v1::ReplayServerConfig c;
  ASSERT_TRUE(Parse({"--rate_limiter.samples_per_insert=-1"}, &c).ok());
  FillDefaults(&c);
  absl::Status s = ValidateRanges(c);
  EXPECT_THAT(s.message(), HasSubstr("rate_limiter.samples_per_insert: -1 is below the minimum 0"));

  v1::ReplayServerConfig d;
  ASSERT_TRUE(Parse({"--selector=random"}, &d).ok());
  FillDefaults(&d);
  EXPECT_THAT(ValidateRanges(d).message(),
              HasSubstr("selector: 'random' is not one of uniform, prioritized"));

  v1::LearnerConfig l;
  ASSERT_TRUE(Parse({"--sac.gamma=nan"}, &l).ok());
  FillDefaults(&l);
  EXPECT_THAT(ValidateRanges(l).message(), HasSubstr("sac.gamma"));

  v1::LearnerConfig h;
  ASSERT_TRUE(Parse({"--sac.hidden_sizes=1,2,3,4,5,6,7,8,9"}, &h).ok());
  EXPECT_THAT(ValidateRanges(h).message(), HasSubstr("at most 8"));
  ASSERT_TRUE(Parse({"--sac.hidden_sizes=0"}, &h).ok());
  EXPECT_THAT(ValidateRanges(h).message(), HasSubstr("sac.hidden_sizes[0]: 0 is below"));
}

TEST(Config, SpecialFlagsAndPositionals) {
  v1::ReplayServerConfig c;
  auto cl = Parse({"--validate_only", "--capacity=3"}, &c);
  ASSERT_TRUE(cl.ok());
  EXPECT_TRUE(cl->validate_only);
  EXPECT_FALSE(Parse({"stray"}, &c).ok());
  auto pos = Parse({"pull", "--capacity=4", "--", "--not-a-flag"}, &c, true);
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->positional, (std::vector<std::string>{"pull", "--not-a-flag"}));
  auto help = Parse({"--help"}, &c);
  EXPECT_TRUE(help->help);
}

TEST(Config, HelpListsNestedFlagsWithDefaults) {
  const std::string help = FlagHelp(v1::ReplayServerConfig::descriptor());
  EXPECT_THAT(help, HasSubstr("--rate_limiter.samples_per_insert (double, default 256)"));
  EXPECT_THAT(help, HasSubstr("--selector (string, default \"uniform\") {uniform|prioritized}"));
  EXPECT_THAT(help, HasSubstr("--server.grpc_address"));
}

TEST(Config, EffectiveConfigRoundTripsThroughText) {
  v1::LearnerConfig a;
  ASSERT_TRUE(Parse({"--sac.variant=v2", "--replay_addresses=x:1,y:2"}, &a).ok());
  FillDefaults(&a);
  v1::LearnerConfig b;
  ASSERT_TRUE(MergeConfigText(ConfigToText(a), "effective", &b).ok());
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

}  // namespace
}  // namespace sac

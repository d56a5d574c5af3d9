// The build copies Gymnasium's model files (and its license) into
// <build>/share/sac/models; the default models dir, resolved from the running
// executable (<build>/tests here, <build>/bin for the binaries), finds them, and
// --models_dir / EnvConfig.models_dir overrides it.
#include "envs/models_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "envs/env_batch.h"

namespace sac::envs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const char* kModelFiles[] = {"half_cheetah.xml",
                             "hopper.xml",
                             "walker2d_v5.xml",
                             "ant.xml",
                             "humanoid.xml",
                             "inverted_pendulum.xml",
                             "inverted_double_pendulum.xml",
                             "swimmer.xml",
                             "reacher.xml"};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ModelsDirTest, DefaultIsBesideTheBinaries) {
  auto dir = DefaultModelsDir();
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(fs::path(*dir), (fs::path(SAC_BUILD_DIR) / "share/sac/models").lexically_normal());
  auto resolved = ResolveModelsDir("");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, *dir);
}

TEST(ModelsDirTest, BuildPlacedGymnasiumsExactFilesAndLicense) {
  const fs::path dir = *DefaultModelsDir();
  for (const char* f : kModelFiles) {
    const std::string ours = ReadFile(dir / f);
    ASSERT_FALSE(ours.empty()) << f;
    EXPECT_EQ(ours, ReadFile(fs::path(SAC_GYM_ASSETS_DIR) / f)) << f << " differs from Gymnasium's";
  }
  EXPECT_THAT(ReadFile(dir / "LICENSE"), HasSubstr("MIT License"));
}

TEST(ModelsDirTest, OverrideIsUsedAndChecked) {
  const fs::path tmp = fs::path(::testing::TempDir()) / "sac_models_override";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  // Only Swimmer's file: other tasks fail to load from here, naming the file.
  fs::copy_file(*DefaultModelsDir() + "/swimmer.xml", tmp / "swimmer.xml");
  auto swimmer = EnvBatch::Create("Swimmer-v5", 1, 0, tmp.string());
  ASSERT_TRUE(swimmer.ok()) << swimmer.status();
  EXPECT_EQ((*swimmer)->models_dir(), tmp.string());
  auto hopper = EnvBatch::Create("Hopper-v5", 1, 0, tmp.string());
  ASSERT_FALSE(hopper.ok());
  EXPECT_THAT(hopper.status().message(), HasSubstr((tmp / "hopper.xml").string()));
  auto missing = ResolveModelsDir((tmp / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace sac::envs

// Exact resume: 200 updates straight must equal 100 updates, a checkpoint, a
// restore in a new process and 100 more, bit for bit (every parameter, target,
// optimizer moment and step, RNG state and counter).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "learner/sac_learner.h"
#include "learner/sac_learner_testing.h"
#include "tests/testing/process.h"

namespace sac::learner {
namespace {

using ::sac::testing::BinaryPath;
using ::sac::testing::ChildProcess;

// $SAC_BINARY_DIR/bin/sac_learner_tool, or, when ctest did not pass
// SAC_BINARY_DIR (gtest_discover_tests keeps only the first ENVIRONMENT entry
// with CMake 3.25), the bin/ folder beside this test's tests/ folder.
std::string ToolPath() {
  if (std::getenv("SAC_BINARY_DIR") != nullptr) return BinaryPath("sac_learner_tool");
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (self.parent_path().parent_path() / "bin" / "sac_learner_tool").string();
}

void RunTool(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {ToolPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  // Passive OpenMP waiting: on a loaded 2-core machine spinning threads slow a
  // 2-thread run by 10-100x. It changes no result (only how threads wait).
  auto child = ChildProcess::Start(argv, log, {"OMP_WAIT_POLICY=PASSIVE"});
  ASSERT_TRUE(child.ok()) << child.status();
  const std::optional<int> status = (*child)->WaitForExit(absl::Seconds(120));
  ASSERT_TRUE(status.has_value()) << "tool did not finish: " << (*child)->ReadLog();
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << (*child)->ReadLog();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// (variant, CPU threads, sac.matmul_dtype): the same thread count on both
// sides of the restore (LibTorch's parallel reductions split work by thread count).
class ResumeTest : public ::testing::TestWithParam<std::tuple<std::string, int, std::string>> {};

TEST_P(ResumeTest, TwoHundredStraightEqualsHundredPlusRestorePlusHundred) {
  const auto& [variant, threads, matmul_dtype] = GetParam();
  v1::SacConfig config;
  config.set_variant(variant);
  config.set_matmul_dtype(matmul_dtype);
  LearnerOptions o;
  o.task = "HalfCheetah-v5";
  o.threads = threads;
  o.obs_dim = 17;
  o.act_dim = 6;
  for (int j = 0; j < 6; ++j) {
    o.action_low.push_back(-1.0f - 0.1f * j);
    o.action_high.push_back(1.0f + 0.3f * j);
  }
  if (auto probe = SacLearner::Create(config, o); !probe.ok()) {
    // Only a CPU without bfloat16 products may refuse (bfloat16 only).
    ASSERT_TRUE(matmul_dtype == "bfloat16" && absl::IsFailedPrecondition(probe.status()))
        << probe.status();
    GTEST_SKIP() << probe.status();
  }
  const std::string dir = ::sac::testing::MakeTempDir("resume_" + variant + "_" +
                                                      std::to_string(threads) + "_" + matmul_dtype);
  const std::string log = dir + "/tool.log";
  const std::string v = "--variant=" + variant;
  const std::string t = "--threads=" + std::to_string(threads);
  const std::string m = "--matmul_dtype=" + matmul_dtype;
  ASSERT_NO_FATAL_FAILURE(
      RunTool({"train", v, t, m, "--steps=200", "--save=" + dir + "/straight.ckpt"}, log));
  ASSERT_NO_FATAL_FAILURE(
      RunTool({"train", v, t, m, "--steps=100", "--save=" + dir + "/half.ckpt"}, log));
  ASSERT_NO_FATAL_FAILURE(RunTool({"train", v, t, m, "--steps=100", "--load=" + dir + "/half.ckpt",
                                   "--save=" + dir + "/resumed.ckpt"},
                                  log));

  // Compare tensor by tensor (names in the failure message), then the files.
  auto straight = SacLearner::Create(config, o);
  auto resumed = SacLearner::Create(config, o);
  ASSERT_TRUE(straight.ok() && resumed.ok());
  ASSERT_TRUE((*straight)->LoadCheckpoint(dir + "/straight.ckpt").ok());
  ASSERT_TRUE((*resumed)->LoadCheckpoint(dir + "/resumed.ckpt").ok());
  EXPECT_EQ((*straight)->updates(), 200u);
  EXPECT_EQ((*resumed)->updates(), 200u);
  const std::vector<NamedArray> a = SacLearnerTesting::AllTensors(**straight);
  const std::vector<NamedArray> b = SacLearnerTesting::AllTensors(**resumed);
  ASSERT_EQ(a.size(), b.size());
  int moments = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].name, b[i].name);
    EXPECT_TRUE(a[i].values == b[i].values) << a[i].name << " differs";
    moments += a[i].name.rfind("adam.", 0) == 0;
  }
  EXPECT_GT(moments, 0);
  // The whole files: also the RNG states, optimizer step counts and counters.
  EXPECT_TRUE(ReadFile(dir + "/straight.ckpt") == ReadFile(dir + "/resumed.ckpt"));
  // And the resumed run really differs from the half-way state.
  EXPECT_FALSE(ReadFile(dir + "/half.ckpt") == ReadFile(dir + "/resumed.ckpt"));
  if (!HasFailure()) std::filesystem::remove_all(dir);  // kept for inspection on failure
}

// Both variants on one thread, and v2 on two threads (slow on a loaded 2-core
// machine, where one of two OpenMP threads is often descheduled); the same in
// bfloat16 (v1 on one thread, v2 on two).
INSTANTIATE_TEST_SUITE_P(Variants, ResumeTest,
                         ::testing::Values(std::make_tuple("v1", 1, "float32"),
                                           std::make_tuple("v2", 1, "float32"),
                                           std::make_tuple("v2", 2, "float32"),
                                           std::make_tuple("v1", 1, "bfloat16"),
                                           std::make_tuple("v2", 2, "bfloat16")));

}  // namespace
}  // namespace sac::learner

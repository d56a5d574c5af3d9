// Sets SAC_BINARY_DIR from the test binary's own path (<build>/tests/x ->
// <build>) when the environment does not give it, so BinaryPath("sac-replay")
// finds the build's binary under ctest too (gtest_discover_tests passes only the
// first entry of sac_test's ENVIRONMENT list at the time of writing).
#ifndef SAC_TESTS_REPLAY_BINARY_DIR_H_
#define SAC_TESTS_REPLAY_BINARY_DIR_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace sac::replay {

inline void EnsureBinaryDir() {
  if (std::getenv("SAC_BINARY_DIR") != nullptr) return;
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return;
  std::string exe(buf, static_cast<size_t>(n));
  exe = exe.substr(0, exe.rfind('/'));  // <build>/tests
  exe = exe.substr(0, exe.rfind('/'));  // <build>
  setenv("SAC_BINARY_DIR", exe.c_str(), 0);
}

}  // namespace sac::replay

#endif  // SAC_TESTS_REPLAY_BINARY_DIR_H_

// Linked into every GoogleTest binary by sac_test(): gives the test process (and
// the processes it starts) the build's paths when ctest or a developer did not
// set them: SAC_SOURCE_DIR, SAC_BINARY_DIR, SAC_PYTHON and PYTHONPATH (the
// generated stubs and python/, the helpers' source). Values already in the
// environment win.
#include <cstdlib>

namespace {

struct TestEnvironment {
  TestEnvironment() {
    setenv("SAC_SOURCE_DIR", SAC_TEST_SOURCE_DIR, 0);
    setenv("SAC_BINARY_DIR", SAC_TEST_BINARY_DIR, 0);
    setenv("SAC_PYTHON", SAC_TEST_PYTHON, 0);
    setenv("PYTHONPATH", SAC_TEST_PYTHONPATH, 0);
  }
};
const TestEnvironment kTestEnvironment;

}  // namespace

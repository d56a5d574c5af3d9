// Test support for integration tests that start the real binaries: a child
// process owned by the test (killed and reaped in the destructor), free loopback
// ports, and waiting on a condition with a deadline (never a bare sleep).
#ifndef SAC_TESTS_TESTING_PROCESS_H_
#define SAC_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/subprocess.h"

namespace sac::testing {

using ChildProcess = ::sac::ChildProcess;

// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

// Polls `condition` every `poll` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll = absl::Milliseconds(20));

// Reads "grpc=<p> metrics=<q>" written by a process's --server.port_file once it
// serves; waits up to `timeout` for the file to appear.
struct Ports {
  int grpc = 0;
  int metrics = 0;
};
absl::StatusOr<Ports> WaitForPortFile(const std::string& path, absl::Duration timeout,
                                      ChildProcess* process = nullptr);

// $SAC_BINARY_DIR/bin/<name> (the build's binaries), and source paths.
std::string BinaryPath(const std::string& name);
std::string SourcePath(const std::string& relative);
// A fresh directory under $TEST_TMPDIR (default /tmp). It is removed when the
// test that made it ends without a failure (one made outside a test: when the
// program ends without one); a failure, or SAC_KEEP_TEST_DIRS=1, keeps it.
std::string MakeTempDir(const std::string& prefix);

// HTTP GET on 127.0.0.1:port; the body, or an error.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    const std::string& bearer_token = "");

}  // namespace sac::testing

#endif  // SAC_TESTS_TESTING_PROCESS_H_

// A child process owned by its creator: started with fork/exec, output to a log
// file, signalled, waited for with a deadline, and killed (SIGKILL) and reaped
// by the destructor if still running. Used by `sacctl local` to run a cluster
// and by integration tests to run the real binaries.
#ifndef SAC_COMMON_SUBPROCESS_H_
#define SAC_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sac {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv` in its own process group, with an empty signal
  // mask; stdout and stderr go to `log_path` (appended).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path,
      const std::vector<std::string>& extra_env = {});
  ~ChildProcess();  // SIGKILL + reap if still running

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout` for exit; returns the exit status as from waitpid
  // (use WIFEXITED etc.), or nullopt if still running.
  std::optional<int> WaitForExit(absl::Duration timeout);
  bool running();
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

}  // namespace sac

#endif  // SAC_COMMON_SUBPROCESS_H_

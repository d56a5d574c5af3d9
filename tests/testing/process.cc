#include "tests/testing/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sac::testing {
namespace {

// Removes MakeTempDir's folders: those made during a test when that test ends
// without a failure, those made outside a test (SetUpTestSuite) when the whole
// program ends without one. A failure keeps them, named on stderr, to be read;
// SAC_KEEP_TEST_DIRS=1 keeps every one. Without this, each run of the suite
// left about 3 GB in /tmp (the fault tests' run folders alone 120 MB each).
class TempDirCleaner : public ::testing::EmptyTestEventListener {
 public:
  // The one cleaner, appended to GoogleTest's listeners (which own it) on
  // first use.
  static TempDirCleaner& Get() {
    static TempDirCleaner* const cleaner = [] {
      auto* c = new TempDirCleaner();
      ::testing::UnitTest::GetInstance()->listeners().Append(c);
      return c;
    }();
    return *cleaner;
  }

  void Add(const std::string& dir) {
    const bool in_test = ::testing::UnitTest::GetInstance()->current_test_info() != nullptr;
    const std::lock_guard<std::mutex> lock(mu_);
    (in_test ? test_dirs_ : program_dirs_).push_back(dir);
  }

  void OnTestEnd(const ::testing::TestInfo& test) override {
    Finish(Take(&test_dirs_), test.result()->Failed());
  }
  void OnTestProgramEnd(const ::testing::UnitTest& unit) override {
    Finish(Take(&program_dirs_), unit.Failed());
  }

 private:
  std::vector<std::string> Take(std::vector<std::string>* dirs) {
    const std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(*dirs, {});
  }

  static void Finish(const std::vector<std::string>& dirs, bool failed) {
    const char* keep = std::getenv("SAC_KEEP_TEST_DIRS");
    const bool kept = failed || (keep != nullptr && std::string(keep) == "1");
    for (const std::string& dir : dirs) {
      if (kept) {
        std::cerr << "test folder kept: " << dir << "\n";
        continue;
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      if (ec) std::cerr << "test folder " << dir << " not removed: " << ec.message() << "\n";
    }
  }

  std::mutex mu_;
  std::vector<std::string> test_dirs_;
  std::vector<std::string> program_dirs_;
};

}  // namespace

int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return 0;  // what getsockname reports for a socket left unbound
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout, absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(poll);
  }
}

absl::StatusOr<Ports> WaitForPortFile(const std::string& path, absl::Duration timeout,
                                      ChildProcess* process) {
  Ports ports;
  bool exited = false;
  const bool ok = WaitFor(
      [&] {
        if (process && !process->running()) {
          exited = true;
          return true;
        }
        std::ifstream in(path);
        std::string g, m;
        if (!(in >> g >> m)) return false;
        return std::sscanf(g.c_str(), "grpc=%d", &ports.grpc) == 1 &&
               std::sscanf(m.c_str(), "metrics=%d", &ports.metrics) == 1;
      },
      timeout);
  if (exited) {
    return absl::InternalError(
        absl::StrCat("process exited before serving; log:\n", process->ReadLog()));
  }
  if (!ok) return absl::DeadlineExceededError(absl::StrCat("no port file ", path));
  return ports;
}

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("SAC_BINARY_DIR");
  return absl::StrCat(dir ? dir : "build", "/bin/", name);
}

std::string SourcePath(const std::string& relative) {
  const char* dir = std::getenv("SAC_SOURCE_DIR");
  return absl::StrCat(dir ? dir : ".", "/", relative);
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/", prefix, "_XXXXXX");
  char* dir = mkdtemp(tmpl.data());
  if (dir == nullptr) return std::string();
  TempDirCleaner::Get().Add(dir);
  return std::string(dir);
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    const std::string& bearer_token) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Headers headers;
  if (!bearer_token.empty()) headers.emplace("Authorization", "Bearer " + bearer_token);
  auto res = client.Get(path.c_str(), headers);
  if (!res) return absl::UnavailableError(absl::StrCat("GET ", path, " on port ", port, " failed"));
  if (res->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("GET ", path, ": HTTP ", res->status, " ", res->body));
  }
  return res->body;
}

}  // namespace sac::testing

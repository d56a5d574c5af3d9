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
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace sac::testing {

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
  return dir ? std::string(dir) : std::string();
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

// The HTTP endpoint every long-running process serves beside gRPC:
//   GET /metrics  Prometheus text exposition 0.0.4 of a MetricsRegistry
//   GET /healthz  200 "ok" while the health callback returns OK, else 503 + reason
// Built on Debian's cpp-httplib, serving from its own threads. Owned by the
// process; the destructor stops serving and joins.
#ifndef SAC_COMMON_HTTP_SERVER_H_
#define SAC_COMMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace httplib {
class Server;
}

namespace sac {

struct HttpServerOptions {
  // host:port; port 0 picks a free one (see port()).
  std::string address = "127.0.0.1:0";
  // When not empty, /metrics requires "Authorization: Bearer <token>".
  std::string metrics_token;
  // Health of the process; nullptr means always healthy.
  std::function<absl::Status()> health;
};

class MetricsHttpServer {
 public:
  // Binds and starts serving. `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      const HttpServerOptions& options, const MetricsRegistry* registry);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port" ("[::1]:80" too); the error names the address.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace sac

#endif  // SAC_COMMON_HTTP_SERVER_H_

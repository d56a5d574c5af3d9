// The HTTP endpoint every long-running process serves beside gRPC:
//   GET /metrics  Prometheus text exposition 0.0.4 of a MetricsRegistry
//   GET /healthz  200 "ok" while the health callback returns OK, else 503 + reason
// Owned by the process; the destructor stops serving and joins its thread.
//
// Why not a thread pool (cpp-httplib's, which this replaced): a worker is held
// by a connection for as long as the client trickles its headers, so as many
// slow connections as workers (eight) made every /healthz probe time out, and
// `/healthz` is the liveness probe. Here one thread serves every connection
// from a poll loop with non-blocking sockets, so no client can hold it:
// - a request's headers must arrive, and its response be taken, within
//   `request_timeout` (an idle keep-alive connection is closed after it too);
// - at most `max_connections` are open: a new connection closes the one that
//   has waited longest, so a probe is served however many clients stall;
// - headers over kMaxHeaderBytes are refused (431), request bodies (400).
// The handlers run on that thread: the health callback must not block.
#ifndef SAC_COMMON_HTTP_SERVER_H_
#define SAC_COMMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace sac {

struct HttpServerOptions {
  // host:port; port 0 picks a free one (see port()).
  std::string address = "127.0.0.1:0";
  // When not empty, /metrics requires "Authorization: Bearer <token>".
  std::string metrics_token;
  // Health of the process; nullptr means always healthy. Must not block.
  std::function<absl::Status()> health;
  // Time a connection has for the headers of its next request (from its
  // accept or the end of its previous response), and for taking a response.
  absl::Duration request_timeout = absl::Seconds(10);
  // Open connections at most; at the cap a new one closes the oldest.
  int max_connections = 256;
};

class MetricsHttpServer {
 public:
  // Largest request head (request line and headers) accepted.
  static constexpr size_t kMaxHeaderBytes = 16 << 10;

  // Binds and starts serving. `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(const HttpServerOptions& options,
                                                                   const MetricsRegistry* registry);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  struct Connection;
  MetricsHttpServer(HttpServerOptions options, const MetricsRegistry* registry)
      : options_(std::move(options)), registry_(registry) {}
  void Serve();
  // Answers the request head `head` (without its blank line): the response bytes.
  std::string Respond(const std::string& head, bool* keep_alive) const;

  const HttpServerOptions options_;
  const MetricsRegistry* const registry_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd: written by the destructor to stop Serve
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port" ("[::1]:80" too); the error names the address.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace sac

#endif  // SAC_COMMON_HTTP_SERVER_H_

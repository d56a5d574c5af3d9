#include "common/http_server.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/security.h"

namespace sac {

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "' is not host:port"));
  }
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "': port must be 0..65535"));
  }
  *host = h.empty() ? "0.0.0.0" : h;
  *port = p;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    const HttpServerOptions& options, const MetricsRegistry* registry) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(options.address, &host, &port); !s.ok()) return s;
  std::unique_ptr<MetricsHttpServer> self(new MetricsHttpServer());
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *self->server_;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a
  // second process bind the same port silently.
  srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const std::string token = options.metrics_token;
  srv.Get("/metrics", [registry, token](const httplib::Request& req, httplib::Response& res) {
    if (!token.empty() &&
        !TokenMatches(req.get_header_value("Authorization"), absl::StrCat("Bearer ", token))) {
      res.status = 401;
      res.set_content("missing or wrong bearer token\n", "text/plain");
      return;
    }
    res.set_content(registry->Exposition(), "text/plain; version=0.0.4; charset=utf-8");
  });
  auto health = options.health;
  srv.Get("/healthz", [health](const httplib::Request&, httplib::Response& res) {
    const absl::Status s = health ? health() : absl::OkStatus();
    if (s.ok()) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(absl::StrCat(s.message(), "\n"), "text/plain");
    }
  });
  if (port == 0) {
    port = srv.bind_to_any_port(host);
    if (port < 0) {
      return absl::UnavailableError(absl::StrCat("metrics: cannot bind ", options.address));
    }
  } else if (!srv.bind_to_port(host, port)) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot bind ", options.address, " (in use?)"));
  }
  self->port_ = port;
  self->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  // Stop() before the listen loop has started would be lost; wait for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!srv.is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::InternalError("metrics: HTTP server did not start");
    }
    std::this_thread::yield();
  }
  return self;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sac

#include "common/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/security.h"

namespace sac {

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("address '", address, "' is not host:port"));
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

namespace {

// A bound, listening, non-blocking socket on host:port, or an error.
absl::StatusOr<int> Listen(const std::string& address, const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot bind ", address));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only: SO_REUSEPORT would let a second process bind the
    // same port silently.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot bind ", address, port == 0 ? "" : " (in use?)"));
  }
  return fd;
}

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
  }
  return "Error";
}

std::string Response(int code, const std::string& content_type, const std::string& body,
                     bool keep_alive, bool head_only = false) {
  return absl::StrCat("HTTP/1.1 ", code, " ", Reason(code), "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: ", keep_alive ? "keep-alive" : "close", "\r\n\r\n",
                      head_only ? std::string() : body);
}

}  // namespace

// One client connection. `in` holds bytes read and not yet answered; `out` the
// response being written (from `written`).
struct MetricsHttpServer::Connection {
  int fd = -1;
  std::string in;
  std::string out;
  size_t written = 0;
  bool close_after_write = false;
  absl::Time since;     // start of the current request (or of the wait for one)
  absl::Time deadline;  // since + request_timeout
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    const HttpServerOptions& options, const MetricsRegistry* registry) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(options.address, &host, &port); !s.ok()) return s;
  std::unique_ptr<MetricsHttpServer> self(new MetricsHttpServer(options, registry));
  absl::StatusOr<int> fd = Listen(options.address, host, port);
  if (!fd.ok()) return fd.status();
  self->listen_fd_ = *fd;
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(self->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(absl::StrCat("metrics: getsockname: ", std::strerror(errno)));
  }
  self->port_ =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  self->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (self->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("metrics: eventfd: ", std::strerror(errno)));
  }
  MetricsHttpServer* server = self.get();
  self->thread_ = std::thread([server] { server->Serve(); });
  return self;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof(one));
    (void)n;
    thread_.join();
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string MetricsHttpServer::Respond(const std::string& head, bool* keep_alive) const {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> request_line = absl::StrSplit(lines[0], ' ');
  *keep_alive = false;
  if (request_line.size() != 3 || !absl::StartsWith(request_line[2], "HTTP/1.")) {
    return Response(400, "text/plain", "not an HTTP/1.x request line\n", false);
  }
  const bool http10 = request_line[2] == "HTTP/1.0";
  *keep_alive = !http10;
  std::string authorization;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "authorization") {
      authorization = std::string(value);
    } else if (name == "connection") {
      if (absl::EqualsIgnoreCase(value, "close")) *keep_alive = false;
      if (absl::EqualsIgnoreCase(value, "keep-alive")) *keep_alive = true;
    } else if ((name == "content-length" && value != "0") || name == "transfer-encoding") {
      *keep_alive = false;
      return Response(400, "text/plain", "request bodies are not accepted\n", false);
    }
  }
  const absl::string_view method = request_line[0];
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return Response(405, "text/plain", "only GET and HEAD\n", *keep_alive);
  }
  absl::string_view path = request_line[1];
  path = path.substr(0, path.find('?'));
  if (path == "/healthz") {
    const absl::Status s = options_.health ? options_.health() : absl::OkStatus();
    if (s.ok()) return Response(200, "text/plain", "ok\n", *keep_alive, head_only);
    return Response(503, "text/plain", absl::StrCat(s.message(), "\n"), *keep_alive, head_only);
  }
  if (path == "/metrics") {
    const std::string& token = options_.metrics_token;
    if (!token.empty() && !TokenMatches(authorization, absl::StrCat("Bearer ", token))) {
      return Response(401, "text/plain", "missing or wrong bearer token\n", *keep_alive, head_only);
    }
    return Response(200, "text/plain; version=0.0.4; charset=utf-8", registry_->Exposition(),
                    *keep_alive, head_only);
  }
  return Response(404, "text/plain", "not found (/metrics, /healthz)\n", *keep_alive, head_only);
}

void MetricsHttpServer::Serve() {
  std::list<Connection> connections;
  auto close_connection = [&](std::list<Connection>::iterator it) {
    close(it->fd);
    return connections.erase(it);
  };
  auto start_request = [&](Connection& c, absl::Time now) {
    c.since = now;
    c.deadline = now + options_.request_timeout;
  };
  // Turns a complete request head in `c.in` into a response in `c.out`.
  auto answer = [&](Connection& c, absl::Time now) {
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos ? c.in.size() > kMaxHeaderBytes : end > kMaxHeaderBytes) {
      c.out = Response(431, "text/plain", "request head too large\n", false);
      c.close_after_write = true;
      c.in.clear();
      start_request(c, now);
      return;
    }
    if (end == std::string::npos) return;
    bool keep_alive = false;
    c.out = Respond(c.in.substr(0, end), &keep_alive);
    c.close_after_write = !keep_alive;
    c.in.erase(0, end + 4);
    c.written = 0;
    start_request(c, now);  // the response must be taken within the timeout
  };
  std::vector<pollfd> fds;
  std::vector<std::list<Connection>::iterator> polled;
  char buffer[4096];
  while (true) {
    absl::Time now = absl::Now();
    fds.clear();
    polled.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    absl::Time next = absl::InfiniteFuture();
    for (auto it = connections.begin(); it != connections.end(); ++it) {
      fds.push_back({it->fd, static_cast<int16_t>(it->out.empty() ? POLLIN : POLLOUT), 0});
      polled.push_back(it);
      next = std::min(next, it->deadline);
    }
    int timeout_ms = -1;
    if (next != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(next - now) + 1, 0, 60000));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      SAC_LOG(ERROR) << "metrics: poll: " << std::strerror(errno);
      break;
    }
    if (fds[0].revents != 0) break;  // the destructor wants us to stop
    now = absl::Now();
    for (size_t i = 0; i < polled.size(); ++i) {
      const int16_t revents = fds[i + 2].revents;
      if (revents == 0) continue;
      Connection& c = *polled[i];
      bool drop = false;
      if (c.out.empty()) {
        const ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
        if (n > 0) {
          c.in.append(buffer, static_cast<size_t>(n));
          answer(c, now);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          drop = true;
        }
      } else {
        const ssize_t n =
            send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
        if (n > 0) {
          c.written += static_cast<size_t>(n);
          if (c.written == c.out.size()) {
            c.out.clear();
            c.written = 0;
            if (c.close_after_write) {
              drop = true;
            } else {
              start_request(c, now);
              answer(c, now);  // a pipelined request already read
            }
          }
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          drop = true;
        }
      }
      if (drop) close_connection(polled[i]);
    }
    // Expired connections: headers too slow, a response not taken, or idle.
    for (auto it = connections.begin(); it != connections.end();) {
      it = it->deadline <= now ? close_connection(it) : std::next(it);
    }
    if (fds[1].revents != 0) {
      while (true) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        const bool out_of_fds = fd < 0 && (errno == EMFILE || errno == ENFILE);
        // At the cap (or out of file descriptors) the connection that has
        // waited longest goes.
        if ((fd >= 0 && static_cast<int>(connections.size()) >= options_.max_connections) ||
            (out_of_fds && !connections.empty())) {
          close_connection(std::min_element(
              connections.begin(), connections.end(),
              [](const Connection& a, const Connection& b) { return a.since < b.since; }));
        }
        if (fd < 0) break;  // EAGAIN (or no descriptor: tried again at the next poll)
        Connection& c = connections.emplace_back();
        c.fd = fd;
        start_request(c, now);
      }
    }
  }
  for (auto it = connections.begin(); it != connections.end();) it = close_connection(it);
}

}  // namespace sac

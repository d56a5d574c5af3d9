#include "tests/testing/stalled_http2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/time/clock.h"

namespace sac::testing {

StalledClient::~StalledClient() {
  if (fd_ >= 0) close(fd_);
}

bool StalledClient::Connect(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return false;
  std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  // SETTINGS: ENABLE_PUSH (2) = 0, INITIAL_WINDOW_SIZE (4) = 0.
  const std::string settings = {0, 2, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0};
  hello += Frame(4, 0, 0, settings);
  if (!Send(hello)) return false;
  // Read frames until the server's own SETTINGS, then acknowledge it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::string in;
  while (absl::Now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    in.append(buffer, static_cast<size_t>(n));
    while (in.size() >= 9) {
      const size_t length = (static_cast<uint8_t>(in[0]) << 16) |
                            (static_cast<uint8_t>(in[1]) << 8) | static_cast<uint8_t>(in[2]);
      if (in.size() < 9 + length) break;
      const uint8_t type = static_cast<uint8_t>(in[3]), flags = static_cast<uint8_t>(in[4]);
      in.erase(0, 9 + length);
      if (type == 4 && (flags & 1) == 0) return Send(Frame(4, 1, 0, ""));
    }
  }
  return false;
}

bool StalledClient::Call(const std::string& path, const std::string& message) {
  std::string headers;
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{":method", "POST"},
                                                        {":scheme", "http"},
                                                        {":path", path},
                                                        {":authority", "127.0.0.1"},
                                                        {"content-type", "application/grpc"},
                                                        {"te", "trailers"}}) {
    // HPACK: a literal field without indexing, with a literal name; every
    // length here is under 127 (one byte, no Huffman coding).
    headers += '\0';
    headers += static_cast<char>(name.size());
    headers += name;
    headers += static_cast<char>(value.size());
    headers += value;
  }
  std::string grpc_message(5, '\0');  // not compressed; 4-byte big-endian length
  const uint32_t n = static_cast<uint32_t>(message.size());
  grpc_message[1] = static_cast<char>(n >> 24);
  grpc_message[2] = static_cast<char>(n >> 16);
  grpc_message[3] = static_cast<char>(n >> 8);
  grpc_message[4] = static_cast<char>(n);
  grpc_message += message;
  const uint32_t stream = next_stream_;
  next_stream_ += 2;
  return Send(Frame(1, /*END_HEADERS*/ 4, stream, headers) +
              Frame(0, /*END_STREAM*/ 1, stream, grpc_message));
}

std::string StalledClient::Frame(uint8_t type, uint8_t flags, uint32_t stream,
                                 const std::string& payload) {
  const size_t n = payload.size();
  std::string f = {static_cast<char>(n >> 16),
                   static_cast<char>(n >> 8),
                   static_cast<char>(n),
                   static_cast<char>(type),
                   static_cast<char>(flags),
                   static_cast<char>(stream >> 24),
                   static_cast<char>(stream >> 16),
                   static_cast<char>(stream >> 8),
                   static_cast<char>(stream)};
  return f + payload;
}
bool StalledClient::Send(const std::string& bytes) {
  return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

}  // namespace sac::testing

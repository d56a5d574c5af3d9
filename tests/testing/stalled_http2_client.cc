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
namespace {

// HTTP/2 frame types and flags (RFC 9113).
constexpr uint8_t kData = 0, kHeadersFrame = 1, kSettings = 4, kWindowUpdate = 8;
constexpr uint8_t kEndStream = 1, kAck = 1, kEndHeaders = 4;
constexpr uint16_t kInitialWindowSize = 4;

uint32_t Read32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

}  // namespace

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
  const std::string settings = {0, 2, 0, 0, 0, 0, 0, kInitialWindowSize, 0, 0, 0, 0};
  hello += Frame(kSettings, 0, 0, settings);
  if (!Send(hello)) return false;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!got_settings_ && absl::Now() < deadline) {
    if (!Pump(absl::Milliseconds(100))) return false;
  }
  return got_settings_;
}

bool StalledClient::Pump(absl::Duration wait) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) > 0) {
    char buffer[16384];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0) return false;
    if (n > 0) in_.append(buffer, static_cast<size_t>(n));
  }
  while (in_.size() >= 9) {
    const size_t length = Read32(in_, 0) >> 8;
    if (in_.size() < 9 + length) break;
    const uint8_t type = static_cast<uint8_t>(in_[3]), flags = static_cast<uint8_t>(in_[4]);
    const uint32_t stream = Read32(in_, 5) & 0x7fffffffu;
    const std::string payload = in_.substr(9, length);
    in_.erase(0, 9 + length);
    if (type == kSettings && (flags & kAck) == 0) {
      for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
        const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(payload[i]) << 8) |
                                                  static_cast<uint8_t>(payload[i + 1]));
        if (id != kInitialWindowSize) continue;
        const int64_t value = Read32(payload, i + 2);
        for (auto& [id_, window] : stream_window_) window += value - initial_window_;
        initial_window_ = value;
      }
      got_settings_ = true;
      if (!Send(Frame(kSettings, kAck, 0, ""))) return false;
    } else if (type == kWindowUpdate && payload.size() == 4) {
      const int64_t increment = Read32(payload, 0) & 0x7fffffffu;
      if (stream == 0) {
        connection_window_ += increment;
      } else {
        stream_window_[stream] += increment;
      }
    }
  }
  return true;
}

std::string StalledClient::Headers(const std::string& path) {
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
  return headers;
}

std::string StalledClient::GrpcMessage(const std::string& message) {
  std::string out(5, '\0');  // not compressed; 4-byte big-endian length
  const uint32_t n = static_cast<uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out + message;
}

bool StalledClient::Call(const std::string& path, const std::string& message) {
  const uint32_t stream = next_stream_;
  next_stream_ += 2;
  return Send(Frame(kHeadersFrame, kEndHeaders, stream, Headers(path)) +
              Frame(kData, kEndStream, stream, GrpcMessage(message)));
}

int StalledClient::Stream(const std::string& path, const std::vector<std::string>& messages,
                          absl::Duration stall) {
  const uint32_t stream = next_stream_;
  next_stream_ += 2;
  stream_window_[stream] = initial_window_;
  if (!Send(Frame(kHeadersFrame, kEndHeaders, stream, Headers(path)))) return 0;
  int sent = 0;
  absl::Time last_progress = absl::Now();
  while (sent < static_cast<int>(messages.size()) && absl::Now() - last_progress < stall) {
    const std::string data = GrpcMessage(messages[static_cast<size_t>(sent)]);
    const int64_t need = static_cast<int64_t>(data.size());
    if (connection_window_ >= need && stream_window_[stream] >= need) {
      if (!Send(Frame(kData, 0, stream, data))) break;
      connection_window_ -= need;
      stream_window_[stream] -= need;
      ++sent;
      last_progress = absl::Now();
      if (!Pump(absl::ZeroDuration())) break;
    } else if (!Pump(absl::Milliseconds(50))) {
      break;
    }
  }
  return sent;
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

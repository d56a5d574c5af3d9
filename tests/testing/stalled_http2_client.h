// Test support: a raw HTTP/2 client connection that announces a stream
// window of 0 and never sends a WINDOW_UPDATE, so a server can send it no byte
// of any answer: what a client that never reads does to a server. gRPC's own
// clients always read, so they cannot play this part.
#ifndef SAC_TESTS_TESTING_STALLED_HTTP2_CLIENT_H_
#define SAC_TESTS_TESTING_STALLED_HTTP2_CLIENT_H_

#include <cstdint>
#include <string>

namespace sac::testing {

class StalledClient {
 public:
  StalledClient() = default;
  StalledClient(const StalledClient&) = delete;
  StalledClient& operator=(const StalledClient&) = delete;
  ~StalledClient();

  // Connects to 127.0.0.1:port and exchanges settings (the server's are
  // acknowledged, so the connection is healthy; only the window is closed).
  bool Connect(int port);

  // Starts a call of `path` ("/sac.v1.ReplayService/Sample") with `message` (a
  // serialized request) as its one request message; no answer is ever read.
  bool Call(const std::string& path, const std::string& message);

 private:
  static std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                           const std::string& payload);
  bool Send(const std::string& bytes);

  int fd_ = -1;
  uint32_t next_stream_ = 1;
};

}  // namespace sac::testing

#endif  // SAC_TESTS_TESTING_STALLED_HTTP2_CLIENT_H_

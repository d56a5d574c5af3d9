// Test support: a raw HTTP/2 client connection that announces a stream
// window of 0 and never sends a WINDOW_UPDATE, so a server can send it no byte
// of any answer: what a client that never reads does to a server. gRPC's own
// clients always read, so they cannot play this part. It honours the
// server's flow control when it sends (the server's SETTINGS and
// WINDOW_UPDATEs are read and acknowledged), so its requests are valid HTTP/2.
#ifndef SAC_TESTS_TESTING_STALLED_HTTP2_CLIENT_H_
#define SAC_TESTS_TESTING_STALLED_HTTP2_CLIENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace sac::testing {

class StalledClient {
 public:
  StalledClient() = default;
  StalledClient(const StalledClient&) = delete;
  StalledClient& operator=(const StalledClient&) = delete;
  ~StalledClient();

  // Connects to 127.0.0.1:port and exchanges settings.
  bool Connect(int port);

  // Starts a call of `path` ("/sac.v1.ReplayService/Sample") with `message` (a
  // serialized request) as its one request message; no answer is ever read.
  bool Call(const std::string& path, const std::string& message);

  // Opens a client stream of `path` and sends `messages` on it, one gRPC
  // message each, as far as the server's flow-control windows let it: stops
  // when all are sent or the windows stayed shut for `stall`. Returns how
  // many were sent. The stream stays open; no answer is read.
  int Stream(const std::string& path, const std::vector<std::string>& messages,
             absl::Duration stall);

 private:
  static std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                           const std::string& payload);
  static std::string Headers(const std::string& path);
  static std::string GrpcMessage(const std::string& message);
  bool Send(const std::string& bytes);
  // Reads what the server sent within `wait` and handles whole frames:
  // SETTINGS (acknowledged; its initial window applied), WINDOW_UPDATE. False
  // when the connection is closed.
  bool Pump(absl::Duration wait);

  int fd_ = -1;
  uint32_t next_stream_ = 1;
  std::string in_;
  bool got_settings_ = false;
  int64_t connection_window_ = 65535;
  int64_t initial_window_ = 65535;             // for the streams we send on
  std::map<uint32_t, int64_t> stream_window_;  // by stream id
};

}  // namespace sac::testing

#endif  // SAC_TESTS_TESTING_STALLED_HTTP2_CLIENT_H_

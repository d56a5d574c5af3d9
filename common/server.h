// What every long-running process (sac-replay, sac-learner, sac-actor) does to
// serve: gRPC on one port, /metrics and /healthz over HTTP on another, an
// optional port file for whoever started it, and a clean stop on SIGINT/SIGTERM.
#ifndef SAC_COMMON_SERVER_H_
#define SAC_COMMON_SERVER_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/response_budget.h"
#include "sac/v1/config_common.pb.h"

namespace sac {

struct ServingEndpoints {
  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_port = 0;
  std::unique_ptr<MetricsHttpServer> http_server;  // null when metrics_address is empty
  int metrics_port = 0;
};

// The bearer token in `config.auth_token_file` (empty when no file is set).
// A process reads it once, in its main, and gives the same string to its
// services and to StartServing (a file rewritten in between cannot make the
// gRPC and /metrics checks disagree).
absl::StatusOr<std::string> ReadServerToken(const v1::ServerConfig& config);

// The bound on responses not yet read by their clients, from
// `server.max_pending_response_bytes` and `..._per_client`, exporting
// sac_server_pending_response_bytes and sac_server_refused_responses_total.
std::unique_ptr<ResponseBudget> MakeResponseBudget(const v1::ServerConfig& config,
                                                   MetricsRegistry* registry);

// Starts gRPC with `services` (callback or sync; owned by the caller, who keeps
// them alive until the server is shut down) and the metrics endpoint, then writes
// the port file. `auth_token` (ReadServerToken) guards /metrics when
// `metrics_require_token`. Errors say which address or file failed. Also tunes
// the process's malloc for serving (KeepFreedMemoryForReuse).
absl::StatusOr<ServingEndpoints> StartServing(const v1::ServerConfig& config,
                                              const std::vector<grpc::Service*>& services,
                                              const MetricsRegistry* registry,
                                              const std::string& auth_token,
                                              std::function<absl::Status()> health = nullptr);

// Tells glibc's malloc to keep freed memory for reuse instead of handing it
// back to the kernel after each large free: a server that builds and frees
// tens of KB per response otherwise page-faults and zeroes fresh pages on
// every call (measured: a sixth of the replay shard's CPU under sampling; see
// docs/perf.md). Allocations of 2 MiB and more still get their own mapping and
// go back when freed: the large answers a client leaves unread (bounded by
// ResponseBudget) return to the kernel when their calls end, instead of
// staying in a thread's malloc arena. Process-wide and idempotent.
void KeepFreedMemoryForReuse();

// Turns off Abseil's lock-order graph for this process. Debian's Abseil is
// built with it on: every Mutex lock records the locks its thread holds and
// looks for a cycle in a process-wide graph (measured: GraphCycles::GetId alone
// was 1-2% of a replay shard's CPU, and inserts ran 2-15% more rows per
// CPU-second without it; docs/perf.md). The binaries call this first thing;
// the unit tests, which do not, keep the check, and the ThreadSanitizer build
// reports lock-order inversions as well. Process-wide and idempotent.
void SkipMutexDeadlockGraph();

// A channel to `address` with the client's TLS settings and message limit.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const v1::ClientConfig& config,
                                                           int max_message_bytes = 64 << 20);

// The bearer token a client sends: the contents of config.auth_token_file, or
// "" (no token) when none is set.
absl::StatusOr<std::string> ReadClientToken(const v1::ClientConfig& config);

// Per-call client context setup: deadline and bearer token (when not empty).
void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout,
                          const std::string& token);

// Waits for SIGINT/SIGTERM (or RequestStop). Construct one, early in main: it
// installs handlers for both signals (whichever thread the kernel picks, even
// one a library started before main) that wake its own thread through a pipe.
class ShutdownSignal {
 public:
  ShutdownSignal();
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  void RequestStop() {
    if (!notified_.exchange(true)) stop_.Notify();
  }
  bool stop_requested() const { return stop_.HasBeenNotified(); }
  void Wait() const { stop_.WaitForNotification(); }
  // True when stop was requested within `timeout`.
  bool WaitFor(absl::Duration timeout) const {
    return stop_.WaitForNotificationWithTimeout(timeout);
  }
  int signal_number() const { return signal_.load(); }

 private:
  absl::Notification stop_;
  std::atomic<bool> notified_{false};
  std::atomic<bool> exiting_{false};
  std::atomic<int> signal_{0};
  int pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace sac

#endif  // SAC_COMMON_SERVER_H_

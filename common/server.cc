#include "common/server.h"

#include <fcntl.h>
#include <grpcpp/server_builder.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/security.h"
#include "common/status.h"

namespace sac {

void KeepFreedMemoryForReuse() {
  mallopt(M_MMAP_THRESHOLD, 2 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
}

void SkipMutexDeadlockGraph() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

absl::StatusOr<std::string> ReadServerToken(const v1::ServerConfig& config) {
  if (config.auth_token_file().empty()) return std::string();
  return ReadTokenFile(config.auth_token_file());
}

absl::StatusOr<std::string> ReadClientToken(const v1::ClientConfig& config) {
  if (config.auth_token_file().empty()) return std::string();
  return ReadTokenFile(config.auth_token_file());
}

std::unique_ptr<ResponseBudget> MakeResponseBudget(const v1::ServerConfig& config,
                                                   MetricsRegistry* registry) {
  return std::make_unique<ResponseBudget>(
      static_cast<int64_t>(config.max_pending_response_bytes()),
      static_cast<int64_t>(config.max_pending_response_bytes_per_client()),
      registry
          ->AddGauge("sac_server_pending_response_bytes",
                     "Bytes of gRPC responses built and not yet taken by their clients")
          ->Get(),
      registry
          ->AddCounter("sac_server_refused_responses_total",
                       "Responses refused (RESOURCE_EXHAUSTED) because their clients had too "
                       "many answers unread")
          ->Get());
}

absl::StatusOr<ServingEndpoints> StartServing(const v1::ServerConfig& config,
                                              const std::vector<grpc::Service*>& services,
                                              const MetricsRegistry* registry,
                                              const std::string& auth_token,
                                              std::function<absl::Status()> health) {
  KeepFreedMemoryForReuse();
  ServingEndpoints out;
  auto creds = MakeServerCredentials(config.tls());
  if (!creds.ok()) return creds.status();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.grpc_address(), *creds, &out.grpc_port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes()));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes()));
  for (grpc::Service* s : services) builder.RegisterService(s);
  out.grpc_server = builder.BuildAndStart();
  if (!out.grpc_server || out.grpc_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("gRPC: cannot listen on ", config.grpc_address(), " (in use or invalid?)"));
  }
  if (!config.metrics_address().empty()) {
    HttpServerOptions http;
    http.address = config.metrics_address();
    http.health = std::move(health);
    if (config.metrics_require_token()) http.metrics_token = auth_token;
    auto server = MetricsHttpServer::Create(http, registry);
    if (!server.ok()) return server.status();
    out.http_server = std::move(*server);
    out.metrics_port = out.http_server->port();
  }
  SAC_LOG(INFO) << "serving gRPC on port " << out.grpc_port << ", metrics on port "
                << out.metrics_port;
  if (!config.port_file().empty()) {
    // Written whole or not at all: a reader polling for it never sees half a line.
    RETURN_IF_ERROR(Annotate(
        WriteFileAtomically(config.port_file(), absl::StrCat("grpc=", out.grpc_port,
                                                             " metrics=", out.metrics_port, "\n")),
        "server.port_file"));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const v1::ClientConfig& config,
                                                           int max_message_bytes) {
  auto creds = MakeChannelCredentials(config.tls());
  if (!creds.ok()) return creds.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  if (!config.tls().server_name_override().empty()) {
    args.SetSslTargetNameOverride(config.tls().server_name_override());
  }
  const int initial_ms = static_cast<int>(config.initial_backoff_seconds() * 1000);
  const int max_ms = static_cast<int>(config.max_backoff_seconds() * 1000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::max(1, initial_ms));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::max(1, initial_ms));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, std::max(1, max_ms));
  return grpc::CreateCustomChannel(address, *creds, args);
}

void PrepareClientContext(grpc::ClientContext* context, absl::Duration timeout,
                          const std::string& token) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

namespace {
// Write end of the pipe of the live ShutdownSignal (one per process).
std::atomic<int> g_signal_pipe{-1};

void OnShutdownSignal(int sig) {
  const int fd = g_signal_pipe.load();
  const unsigned char byte = static_cast<unsigned char>(sig);
  if (fd >= 0 && write(fd, &byte, 1) < 0) {
    // Nothing to do in a signal handler; the pipe is only full when a
    // previous signal is still unread, and that one stops the process anyway.
  }
}
}  // namespace

ShutdownSignal::ShutdownSignal() {
  SAC_CHECK(pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) == 0) << "pipe2 failed";
  g_signal_pipe.store(pipe_[1]);
  struct sigaction action = {};
  action.sa_handler = OnShutdownSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  thread_ = std::thread([this] {
    while (!exiting_.load()) {
      pollfd p = {pipe_[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      unsigned char byte = 0;
      if (read(pipe_[0], &byte, 1) == 1) {
        signal_.store(byte);
        SAC_LOG(INFO) << "received signal " << static_cast<int>(byte) << ", stopping";
        RequestStop();
      }
    }
  });
}

ShutdownSignal::~ShutdownSignal() {
  exiting_.store(true);
  thread_.join();
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  g_signal_pipe.store(-1);
  close(pipe_[0]);
  close(pipe_[1]);
}

}  // namespace sac

// sac-actor: steps MuJoCo environments with the latest policy and streams the
// transitions to the replay shards. Stateless: kill it any time.
#include <grpcpp/grpcpp.h>

#include "actor/actor.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/security.h"
#include "common/server.h"
#include "common/status_service.h"
#include "envs/env_batch.h"
#include "sac/v1/status.grpc.pb.h"

int main(int argc, char** argv) {
  sac::ShutdownSignal shutdown;
  sac::SkipMutexDeadlockGraph();
  sac::v1::ActorConfig config;
  sac::InitConfigOrExit(
      argc, argv, "sac-actor",
      "steps MuJoCo environments with the latest policy, streams transitions to replay shards",
      &config, [](google::protobuf::Message* m) -> absl::Status {
        auto* c = static_cast<sac::v1::ActorConfig*>(m);
        if (c->replay_addresses_size() == 0) {
          return absl::InvalidArgumentError(
              "--replay_addresses: give at least one shard host:port");
        }
        // Fails early on an unknown task (the error lists the known ones).
        auto probe = sac::envs::EnvBatch::Create(c->env().task(), 1, 0, c->env().models_dir());
        return probe.status();
      });
  sac::MetricsRegistry metrics;
  sac::AddProcessMetrics(&metrics);
  auto actor = sac::actor::Actor::Create(config, &metrics);
  if (!actor.ok()) {
    std::fprintf(stderr, "sac-actor: %s\n", std::string(actor.status().message()).c_str());
    return 1;
  }
  auto token = sac::ReadServerToken(config.server());
  if (!token.ok()) {
    std::fprintf(stderr, "sac-actor: %s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  const sac::actor::Actor* actor_ptr = actor->get();
  sac::StatusService<sac::v1::ActorService, sac::v1::ActorStatusRequest, sac::v1::ActorStatus>
      status_service([actor_ptr] { return actor_ptr->Status(); }, *token);
  auto endpoints = sac::StartServing(config.server(), {&status_service}, &metrics, *token);
  if (!endpoints.ok()) {
    std::fprintf(stderr, "sac-actor: %s\n", std::string(endpoints.status().message()).c_str());
    return 1;
  }
  absl::Notification stop;
  std::thread stopper([&] {
    shutdown.Wait();
    stop.Notify();
  });
  absl::Status result = (*actor)->Run(stop);
  if (!shutdown.stop_requested()) shutdown.RequestStop();  // max_env_steps reached
  stopper.join();
  endpoints->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!result.ok()) {
    SAC_LOG(ERROR) << "actor stopped: " << result;
    return 1;
  }
  SAC_LOG(INFO) << "actor stopped after " << (*actor)->Status().env_steps() << " env steps";
  return 0;
}

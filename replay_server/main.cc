// sac-replay: one process serves one replay shard (see docs/replay.md).
#include <grpcpp/server.h>

#include "common/config.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/security.h"
#include "common/server.h"
#include "common/status.h"
#include "common/task_shape.h"
#include "replay_server/replay_service.h"
#include "replay_server/shard.h"
#include "sac/v1/replay_config.pb.h"

int main(int argc, char** argv) {
  sac::ShutdownSignal shutdown;  // first: blocks SIGINT/SIGTERM in every thread
  sac::SkipMutexDeadlockGraph();
  sac::v1::ReplayServerConfig config;
  sac::InitConfigOrExit(argc, argv, "sac-replay", "one shard of the replay buffer", &config,
                        [](google::protobuf::Message* m) -> absl::Status {
                          auto* c = static_cast<sac::v1::ReplayServerConfig*>(m);
                          // Dims from the task, so the effective config shows them.
                          if ((c->obs_dim() == 0 || c->act_dim() == 0) && !c->task().empty()) {
                            auto shape = sac::replay::ShardTaskShape(c->task());
                            if (!shape.ok()) return sac::Annotate(shape.status(), "task");
                            if (c->obs_dim() == 0) c->set_obs_dim((*shape)->obs_dim);
                            if (c->act_dim() == 0) c->set_act_dim((*shape)->act_dim);
                          }
                          // Memory limit, rate limiter band, fsync policy: refused at start.
                          return sac::replay::ShardOptionsFromConfig(*c).status();
                        });
  auto options = sac::replay::ShardOptionsFromConfig(config);
  if (!options.ok()) {
    SAC_LOG(ERROR) << options.status();
    return 2;
  }
  auto token = sac::ReadServerToken(config.server());
  if (!token.ok()) {
    SAC_LOG(ERROR) << "server.auth_token_file: " << token.status();
    return 2;
  }
  sac::MetricsRegistry registry;
  sac::AddProcessMetrics(&registry);
  auto shard = sac::replay::ReplayShard::Create(*options, &registry);
  if (!shard.ok()) {
    SAC_LOG(ERROR) << "cannot open the shard: " << shard.status();
    return 1;
  }
  auto budget = sac::MakeResponseBudget(config.server(), &registry);
  sac::replay::ReplayService service(shard->get(), *token, budget.get());
  auto endpoints = sac::StartServing(config.server(), {&service}, &registry, *token);
  if (!endpoints.ok()) {
    SAC_LOG(ERROR) << endpoints.status();
    return 1;
  }
  SAC_LOG(INFO) << "shard " << config.shard_index() << " ready: " << (*shard)->table()->size()
                << " rows held, capacity " << (*shard)->table()->capacity();
  shutdown.Wait();
  // Wake every waiting sampler/inserter, let streams finish, then save.
  (*shard)->StopAdmitting();
  endpoints->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  absl::Status closed = (*shard)->Close();
  if (!closed.ok()) {
    SAC_LOG(ERROR) << "close: " << closed;
    return 1;
  }
  SAC_LOG(INFO) << "stopped";
  return 0;
}

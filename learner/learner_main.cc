// sac-learner: samples the replay shards, runs the SAC updates, publishes policy
// versions (PolicyService) and writes checkpoints and snapshots to its run dir.
#include <grpcpp/grpcpp.h>

#include <thread>

#include "common/config.h"
#include "common/logging.h"
#include "common/security.h"
#include "common/server.h"
#include "common/status_service.h"
#include "learner/trainer.h"
#include "sac/v1/status.grpc.pb.h"

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "sac-learner: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  sac::ShutdownSignal shutdown;
  sac::SkipMutexDeadlockGraph();
  sac::v1::LearnerConfig config;
  sac::InitConfigOrExit(
      argc, argv, "sac-learner", "samples the replay shards, runs SAC updates, publishes policies",
      &config, [](google::protobuf::Message* m) -> absl::Status {
        auto* c = static_cast<sac::v1::LearnerConfig*>(m);
        if (c->replay_addresses_size() == 0) {
          return absl::InvalidArgumentError("--replay_addresses: give every shard's host:port");
        }
        if (c->device() != "cpu" && c->device().rfind("cuda", 0) != 0) {
          return absl::InvalidArgumentError("--device: '" + c->device() +
                                            "' is not cpu, cuda or cuda:<index>");
        }
        return absl::OkStatus();
      });
  sac::MetricsRegistry metrics;
  sac::AddProcessMetrics(&metrics);
  auto trainer = sac::learner::Trainer::Create(config, &metrics);
  if (!trainer.ok()) return Fail(trainer.status());
  auto token = sac::ReadServerToken(config.server());
  if (!token.ok()) return Fail(token.status());
  auto budget = sac::MakeResponseBudget(config.server(), &metrics);
  sac::learner::PolicyServiceImpl policy_service((*trainer)->policy_store(), *token, budget.get());
  const sac::learner::Trainer* trainer_ptr = trainer->get();
  sac::StatusService<sac::v1::LearnerService, sac::v1::LearnerStatusRequest, sac::v1::LearnerStatus>
      status_service([trainer_ptr] { return trainer_ptr->Status(); }, *token);
  auto endpoints =
      sac::StartServing(config.server(), {&policy_service, &status_service}, &metrics, *token);
  if (!endpoints.ok()) return Fail(endpoints.status());
  absl::Notification stop;
  std::thread stopper([&] {
    shutdown.Wait();
    stop.Notify();
  });
  absl::Status result = (*trainer)->Run(stop);
  if (!shutdown.stop_requested()) shutdown.RequestStop();  // max_updates reached or an error
  stopper.join();
  (*trainer)->policy_store()->Shutdown();
  endpoints->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!result.ok()) return Fail(result);
  SAC_LOG(INFO) << "learner stopped after " << (*trainer)->updates() << " updates";
  return 0;
}

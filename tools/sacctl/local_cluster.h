// `sacctl local`: a whole cluster on this host. Starts S replay shards, then the
// learner (given the shards' addresses), then A actors, every process on
// loopback with ports it picks itself (read back from port files), all state in
// one run directory, so running again with the same directory resumes: shards
// recover from their logs and snapshots, the learner from its newest checkpoint.
// Shows one live progress line until Ctrl-C, a target return, or a step budget.
#ifndef SAC_TOOLS_SACCTL_LOCAL_CLUSTER_H_
#define SAC_TOOLS_SACCTL_LOCAL_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/server.h"
#include "common/subprocess.h"
#include "sac/v1/sacctl_config.pb.h"
#include "sac/v1/status.pb.h"

namespace sac::sacctl {

// How a run ended.
enum class LocalOutcome { kInterrupted, kTargetReached, kBudgetSpent };

class LocalCluster {
 public:
  // Starts every process; on any failure stops those already started and says
  // which process failed, with the end of its log.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const v1::LocalCommand& command,
                                                             const std::string& bin_dir);
  ~LocalCluster();  // Stop()

  // Shows progress until `shutdown`, the target return, the env-step budget, or a
  // process dying (an error naming it).
  absl::StatusOr<LocalOutcome> Run(const ShutdownSignal& shutdown);

  // SIGTERM to actors, then the learner (which checkpoints), then the shards
  // (which snapshot); waits for each, SIGKILL after a deadline.
  void Stop();

  // Address file of a run dir ("learner=host:port", "replay=...", "actor=...").
  static std::string AddressFile(const std::string& run_dir);

  // One process of the cluster (tests reach in to kill and restart them).
  struct Process {
    std::string name;
    std::string binary;
    std::vector<std::string> args;  // beyond the server flags
    std::string port_file;
    std::unique_ptr<ChildProcess> child;
    int grpc_port = 0;
    int metrics_port = 0;
    std::string address() const;  // 127.0.0.1:<grpc_port>
  };
  Process& learner() { return learner_; }
  Process& shard(size_t i) { return shards_[i]; }
  Process& actor(size_t i) { return actors_[i]; }
  size_t num_actors() const { return actors_.size(); }
  // Starts `p` again with its arguments and its old ports (after it exited or
  // was killed), so the other processes reach it where they did.
  absl::Status Restart(Process* p);

 private:
  explicit LocalCluster(v1::LocalCommand command) : command_(std::move(command)) {}
  absl::Status StartProcess(Process* p);
  absl::Status CheckAlive();
  std::string ProgressLine(const v1::LearnerStatus& learner,
                           const std::vector<v1::ActorStatus>& actors, double steps_per_second,
                           double updates_per_second) const;

  const v1::LocalCommand command_;
  std::string bin_dir_;
  std::vector<Process> shards_;
  Process learner_;
  std::vector<Process> actors_;
  bool stopped_ = false;
};

}  // namespace sac::sacctl

#endif  // SAC_TOOLS_SACCTL_LOCAL_CLUSTER_H_

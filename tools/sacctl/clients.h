// Small synchronous clients of the status and policy RPCs, for sacctl.
#ifndef SAC_TOOLS_SACCTL_CLIENTS_H_
#define SAC_TOOLS_SACCTL_CLIENTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sac/v1/config_common.pb.h"
#include "sac/v1/policy.pb.h"
#include "sac/v1/replay.pb.h"
#include "sac/v1/status.pb.h"

namespace sac::sacctl {

// Client settings plus the token read from client.auth_token_file.
struct ClientOptions {
  v1::ClientConfig config;
  std::string token;
  absl::Duration timeout = absl::Seconds(5);
};
absl::StatusOr<ClientOptions> MakeClientOptions(const v1::ClientConfig& config);

absl::StatusOr<v1::LearnerStatus> GetLearnerStatus(const std::string& address,
                                                   const ClientOptions& options);
absl::StatusOr<v1::ActorStatus> GetActorStatus(const std::string& address,
                                               const ClientOptions& options);
absl::StatusOr<v1::ReplayStatus> GetReplayStatus(const std::string& address,
                                                 const ClientOptions& options);
// version 0: the newest snapshot.
absl::StatusOr<v1::Snapshot> GetSnapshot(const std::string& address, uint64_t version,
                                         const ClientOptions& options);

}  // namespace sac::sacctl

#endif  // SAC_TOOLS_SACCTL_CLIENTS_H_

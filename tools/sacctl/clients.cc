#include "tools/sacctl/clients.h"

#include "absl/strings/str_cat.h"
#include "common/security.h"
#include "common/server.h"
#include "common/status.h"
#include "sac/v1/policy.grpc.pb.h"
#include "sac/v1/replay.grpc.pb.h"
#include "sac/v1/status.grpc.pb.h"

namespace sac::sacctl {
namespace {

template <typename Stub, typename Request, typename Response, typename Method>
absl::StatusOr<Response> Call(const std::string& address, const ClientOptions& options,
                              Method method, const Request& request, absl::string_view what) {
  ASSIGN_OR_RETURN(auto channel, MakeChannel(address, options.config, 256 << 20));
  auto stub = Stub(channel);
  grpc::ClientContext context;
  PrepareClientContext(&context, options.timeout, options.token);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status), absl::StrCat(what, " at ", address));
  }
  return response;
}

}  // namespace

absl::StatusOr<ClientOptions> MakeClientOptions(const v1::ClientConfig& config) {
  ClientOptions options;
  options.config = config;
  ASSIGN_OR_RETURN(options.token, ReadClientToken(config));
  if (config.has_rpc_timeout_seconds()) {
    options.timeout = absl::Seconds(config.rpc_timeout_seconds());
  }
  return options;
}

absl::StatusOr<v1::LearnerStatus> GetLearnerStatus(const std::string& address,
                                                   const ClientOptions& options) {
  return Call<v1::LearnerService::Stub, v1::LearnerStatusRequest, v1::LearnerStatus>(
      address, options, &v1::LearnerService::Stub::GetStatus, {}, "learner");
}

absl::StatusOr<v1::ActorStatus> GetActorStatus(const std::string& address,
                                               const ClientOptions& options) {
  return Call<v1::ActorService::Stub, v1::ActorStatusRequest, v1::ActorStatus>(
      address, options, &v1::ActorService::Stub::GetStatus, {}, "actor");
}

absl::StatusOr<v1::ReplayStatus> GetReplayStatus(const std::string& address,
                                                 const ClientOptions& options) {
  return Call<v1::ReplayService::Stub, v1::ReplayStatusRequest, v1::ReplayStatus>(
      address, options, &v1::ReplayService::Stub::GetStatus, {}, "replay shard");
}

absl::StatusOr<v1::Snapshot> GetSnapshot(const std::string& address, uint64_t version,
                                         const ClientOptions& options) {
  v1::GetSnapshotRequest request;
  request.set_version(version);
  return Call<v1::PolicyService::Stub, v1::GetSnapshotRequest, v1::Snapshot>(
      address, options, &v1::PolicyService::Stub::GetSnapshot, request, "learner");
}

}  // namespace sac::sacctl

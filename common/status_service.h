// StatusService: a gRPC service whose one method, GetStatus, answers with a
// process's status after checking the bearer token (empty token: no check).
// sac-actor and sac-learner each serve one (ActorService, LearnerService).
#ifndef SAC_COMMON_STATUS_SERVICE_H_
#define SAC_COMMON_STATUS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <utility>

#include "common/security.h"

namespace sac {

// `Service` is the generated service class (e.g. v1::ActorService); `status`
// is called on a gRPC thread for every authorized request.
template <typename Service, typename Request, typename Response>
class StatusService final : public Service::CallbackService {
 public:
  StatusService(std::function<Response()> status, std::string token)
      : status_(std::move(status)), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context, const Request*,
                                      Response* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    grpc::Status auth = CheckBearerToken(*context, token_);
    if (auth.ok()) *response = status_();
    reactor->Finish(auth);
    return reactor;
  }

 private:
  const std::function<Response()> status_;
  const std::string token_;
};

}  // namespace sac

#endif  // SAC_COMMON_STATUS_SERVICE_H_

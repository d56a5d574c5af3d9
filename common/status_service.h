// StatusService: a gRPC service whose one method, GetStatus, answers with a
// process's status after checking the bearer token (empty token: no check).
// sac-actor and sac-learner each serve one (ActorService, LearnerService).
// The method is raw (common/raw_rpc.h): a request that does not parse gets
// INVALID_ARGUMENT naming its type.
#ifndef SAC_COMMON_STATUS_SERVICE_H_
#define SAC_COMMON_STATUS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <utility>

#include "common/raw_rpc.h"

namespace sac {

// `Service` is the generated service class (e.g. v1::ActorService); `status`
// is called on a gRPC thread for every authorized request.
template <typename Service, typename Request, typename Response>
class StatusService final
    : public Service::template WithRawCallbackMethod_GetStatus<typename Service::Service> {
 public:
  StatusService(std::function<Response()> status, std::string token)
      : status_(std::move(status)), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override {
    return ServeUnary<Request, Response>(context, token_, request, response,
                                         [this](const Request&, Response* out) {
                                           *out = status_();
                                           return grpc::Status::OK;
                                         });
  }

 private:
  const std::function<Response()> status_;
  const std::string token_;
};

}  // namespace sac

#endif  // SAC_COMMON_STATUS_SERVICE_H_

// Raw (ByteBuffer) gRPC methods that parse their requests themselves.
//
// Why: gRPC's generated callback handlers answer a request that does not parse
// with UNIMPLEMENTED (unary and server-streaming methods), and a bidi stream's
// read of such a message completes like the client's half-close, so an Insert
// stream with garbage in it would end OK. Every service of ours therefore
// registers its methods raw (`WithRawCallbackMethod_*`) and parses here: a
// request that does not parse gets INVALID_ARGUMENT naming its message type.
//
// Used by the replay, policy and status services; all functions are
// thread-safe and allocate only the messages they return.
#ifndef SAC_COMMON_RAW_RPC_H_
#define SAC_COMMON_RAW_RPC_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/response_budget.h"
#include "common/security.h"
#include "common/status.h"

namespace sac {

// Parses `bytes` (left unchanged; the slices are shared, not copied) as a
// `Message`. INVALID_ARGUMENT "request: not a valid sac.v1.X" when they do not
// parse.
template <typename Message>
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, Message* out) {
  grpc::ByteBuffer copy(bytes);  // shares the slices; parsing consumes the copy
  if (!grpc::SerializationTraits<Message>::Deserialize(&copy, out).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request: not a valid ", Message::descriptor()->full_name()));
  }
  return absl::OkStatus();
}

// `message` in wire form. The bytes are owned by the buffer (and by its copies,
// which share them).
template <typename Message>
grpc::ByteBuffer SerializeMessage(const Message& message) {
  grpc::ByteBuffer out;
  bool own = false;
  grpc::Status s = grpc::SerializationTraits<Message>::Serialize(message, &out, &own);
  (void)s;  // serializing a valid message in memory cannot fail
  return out;
}

// What every method checks before it answers: the bearer token (empty:
// none required), then the request parsed into `request` (INVALID_ARGUMENT
// naming the type). OK, or the status to finish the call with.
template <typename Request>
grpc::Status AcceptRequest(const grpc::CallbackServerContext& context, const std::string& token,
                           const grpc::ByteBuffer& request_bytes, Request* request) {
  grpc::Status status = CheckBearerToken(context, token);
  if (status.ok()) status = ToGrpcStatus(ParseRequest(request_bytes, request));
  return status;
}

// Serves a unary method whose answer is ready at once: checks the bearer token
// (empty: none required), parses the request, calls `serve(const Request&,
// Response*) -> grpc::Status` and, when it succeeds, writes the response (in
// memory reserved from `budget`, when given: RESOURCE_EXHAUSTED when the
// client has too many answers unread). Finishes through the context's default
// reactor (no thread hop).
template <typename Request, typename Response, typename Serve>
grpc::ServerUnaryReactor* ServeUnary(grpc::CallbackServerContext* context, const std::string& token,
                                     const grpc::ByteBuffer* request_bytes,
                                     grpc::ByteBuffer* response_bytes, Serve&& serve,
                                     ResponseBudget* budget = nullptr) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Request request;
  grpc::Status status = AcceptRequest(*context, token, *request_bytes, &request);
  if (status.ok()) {
    Response response;
    status = std::forward<Serve>(serve)(request, &response);
    if (status.ok()) {
      if (budget == nullptr) {
        *response_bytes = SerializeMessage(response);
      } else {
        absl::StatusOr<grpc::ByteBuffer> built = budget->Serialize(context->peer(), response);
        if (built.ok()) {
          *response_bytes = *built;  // grpc::ByteBuffer copies by reference count
        } else {
          status = ToGrpcStatus(built.status());
        }
      }
    }
  }
  reactor->Finish(status);
  return reactor;
}

// A server-streaming reactor that only finishes with `status` (a refused call).
class RefusedWriteReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedWriteReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace sac

#endif  // SAC_COMMON_RAW_RPC_H_

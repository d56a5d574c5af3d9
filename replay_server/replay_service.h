// ReplayService: the gRPC face of one shard (sac.v1.ReplayService), on the
// callback API. One reactor class per RPC; no reactor blocks: rate-limiter
// waits and log commits call back into the reactor when they are done.
//
// Every RPC checks the bearer token (when one is configured), then validates
// its input against the table's spec; a bad request is refused with
// INVALID_ARGUMENT / RESOURCE_EXHAUSTED / FAILED_PRECONDITION naming the field,
// and changes nothing (a bad batch ends its Insert stream; earlier acks stand).
//
// Insert: one batch is read at a time; once it is admitted by the rate limiter
// and handed to the shard the next one is read, so several batches of a stream
// can wait for the same log commit. Acks are written in sequence order.
#ifndef SAC_REPLAY_SERVER_REPLAY_SERVICE_H_
#define SAC_REPLAY_SERVER_REPLAY_SERVICE_H_

#include <string>

#include "common/response_budget.h"
#include "replay_server/shard.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay {

// Every method is raw (common/raw_rpc.h): requests are parsed here, so one
// that does not parse gets INVALID_ARGUMENT naming its type (also inside an
// Insert stream, which then ends with that error), and Sample's answer is
// written in wire form straight from the sampled rows (sample_wire.h); clients
// see the usual messages.
class ReplayService final : public v1::ReplayService::WithRawCallbackMethod_Insert<
                                v1::ReplayService::WithRawCallbackMethod_Sample<
                                    v1::ReplayService::WithRawCallbackMethod_UpdatePriorities<
                                        v1::ReplayService::WithRawCallbackMethod_GetStatus<
                                            v1::ReplayService::Service>>>> {
 public:
  // `shard` (and `budget`, when given) must outlive the service.
  // `auth_token` empty: no token required. `budget`: bounds the memory of
  // sample answers not yet read (null: unbounded).
  ReplayService(ReplayShard* shard, std::string auth_token, ResponseBudget* budget = nullptr)
      : shard_(shard), token_(std::move(auth_token)), budget_(budget) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Insert(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Sample(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdatePriorities(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

  ReplayShard* shard() const { return shard_; }
  const std::string& token() const { return token_; }

 private:
  ReplayShard* const shard_;
  const std::string token_;
  ResponseBudget* const budget_;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_REPLAY_SERVICE_H_

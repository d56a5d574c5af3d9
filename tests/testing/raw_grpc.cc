#include "tests/testing/raw_grpc.h"

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <chrono>

namespace sac::testing {
namespace {

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* c, absl::Duration timeout) {
  c->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

}  // namespace

std::string UnparseableBytes() { return std::string("\x0a\x7f\x01", 3); }

grpc::Status RawUnaryCall(const std::string& address, const std::string& method,
                          const std::string& request, absl::Duration timeout) {
  auto channel = Channel(address);
  grpc::ClientContext c;
  SetDeadline(&c, timeout);
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), rpc, &c, ToBuffer(request), &response);
}

grpc::Status RawServerStreamCall(const std::string& address, const std::string& method,
                                 const std::string& request, int* messages,
                                 absl::Duration timeout) {
  auto channel = Channel(address);
  grpc::ClientContext c;
  SetDeadline(&c, timeout);
  const grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), rpc, &c,
                                                                    ToBuffer(request)));
  grpc::ByteBuffer message;
  int n = 0;
  while (reader->Read(&message)) ++n;
  if (messages != nullptr) *messages = n;
  return reader->Finish();
}

grpc::Status RawBidiCall(const std::string& address, const std::string& method,
                         const std::vector<std::string>& requests,
                         std::vector<std::string>* responses, absl::Duration timeout) {
  auto channel = Channel(address);
  grpc::ClientContext c;
  SetDeadline(&c, timeout);
  const grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), rpc, &c));
  for (const std::string& r : requests) {
    if (!stream->Write(ToBuffer(r))) break;
  }
  stream->WritesDone();
  grpc::ByteBuffer message;
  while (stream->Read(&message)) {
    if (responses != nullptr) responses->push_back(FromBuffer(message));
  }
  return stream->Finish();
}

}  // namespace sac::testing

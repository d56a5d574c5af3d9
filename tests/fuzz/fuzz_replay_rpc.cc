// Fuzz target: the replay shard's RPCs as a client reaches them (replay_server/
// replay_service.h): request bytes are sent as they are over loopback TCP to a
// real ReplayService over a real ReplayShard, parsed, validated there (token,
// sequence, ValidateBatch, rate-limiter checks, batch_size bounds, priorities)
// and stored or refused.
// Input: [u8 op][u8 auth][request bytes]. op % 4: 0 Insert (a stream of up to
// four requests, each [u16 length][InsertRequest]), 1 Sample (SampleRequest),
// 2 UpdatePriorities (UpdatePrioritiesRequest), 3 GetStatus
// (ReplayStatusRequest). auth % 3: 0 the right bearer token, 1 none, 2 a wrong
// one.
// The shard: obs_dim 3, act_dim 2, capacity 64, prioritized, min_size_to_sample
// 1, 256 KiB messages, 8 rows inserted at start (the seeds use these).
// Requests travel as the input's own bytes (raw calls), parsed by the service.
// Properties: status codes are only those the service documents; without the
// right token nothing runs (UNAUTHENTICATED) and nothing changes; bytes that
// parse as no request get INVALID_ARGUMENT naming the message type, and an
// Insert stream with such a message never ends OK; an Insert stream acks its
// valid prefix in order and the table grows by exactly the acked rows (a
// refused batch changes nothing); a sample response holds exactly batch_size
// valid rows with keys and probabilities; updates count at most the keys given.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/tensor_codec.h"
#include "replay_server/replay_service.h"
#include "replay_server/rows.h"
#include "sac/v1/replay.grpc.pb.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using sac::fuzz::Fail;
namespace replay = sac::replay;
namespace v1 = sac::v1;

constexpr int64_t kObs = 3, kAct = 2, kCapacity = 64;
constexpr int kMaxMessage = 256 << 10;
constexpr char kToken[] = "fuzz-token";

struct Server {
  Server() {
    replay::ShardOptions o;
    o.table.spec = {kObs, kAct};
    o.table.capacity = kCapacity;
    o.table.selector = "prioritized";
    o.limiter = {1, 0, 0};
    o.max_message_bytes = kMaxMessage;
    o.seed = 1;
    auto created = replay::ReplayShard::Create(o, nullptr);
    if (!created.ok()) Fail("shard: " + created.status().ToString());
    shard = std::move(*created);
    // Rows to sample from before any fuzzed insert.
    float obs[kObs] = {1, 2, 3}, action[kAct] = {0, 1}, reward = 0.5f;
    uint8_t flag = 0;
    uint64_t version = 1;
    uint32_t actor = 1;
    for (int i = 0; i < 8; ++i) {
      replay::RowsRef row{1, obs, action, &reward, obs, &flag, &flag, &version, &actor};
      shard->Insert(row, [](absl::Status s, uint64_t, int64_t) {
        if (!s.ok()) Fail("initial insert: " + s.ToString());
      });
    }
    service = std::make_unique<replay::ReplayService>(shard.get(), kToken);
    grpc::ServerBuilder builder;
    // Loopback TCP, as real clients connect: gRPC's in-process transport
    // completes a client's write only when the server reads it, so a stream the
    // server ends early (a refused batch) would leave a client with more
    // batches to send blocked until its deadline (seen with this target), which
    // HTTP/2 flow control never does for such small messages.
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    builder.SetMaxReceiveMessageSize(kMaxMessage);
    builder.SetMaxSendMessageSize(kMaxMessage);
    server = builder.BuildAndStart();
    if (server == nullptr || port == 0) Fail("grpc server did not start");
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessage);
    args.SetMaxSendMessageSize(kMaxMessage);
    channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                        grpc::InsecureChannelCredentials(), args);
  }
  std::unique_ptr<replay::ReplayShard> shard;
  std::unique_ptr<replay::ReplayService> service;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

grpc::ByteBuffer Bytes(absl::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

// A unary call of ReplayService/`method` with `request` as the request's
// bytes; the response's bytes in `*response`.
grpc::Status RawUnary(Server& server, grpc::ClientContext* context, const char* method,
                      absl::string_view request, std::string* response) {
  const std::string name = absl::StrCat("/sac.v1.ReplayService/", method);
  const grpc::internal::RpcMethod rpc(name.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ByteBuffer out;
  grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      server.channel.get(), rpc, context, Bytes(request), &out);
  std::vector<grpc::Slice> slices;
  response->clear();
  if (s.ok() && out.Dump(&slices).ok()) {
    for (const auto& slice : slices) {
      response->append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return s;
}

// Unparseable bytes must be refused as INVALID_ARGUMENT naming `type` (when
// the call carried the right token).
void CheckUnparseable(const grpc::Status& s, int auth, const char* rpc, const char* type) {
  if (auth != 0) return;  // CheckCode requires UNAUTHENTICATED
  if (s.error_code() != grpc::StatusCode::INVALID_ARGUMENT ||
      s.error_message().find(type) == std::string::npos) {
    Fail(absl::StrCat(rpc, ": unparseable request answered ", s.error_code(), ": ",
                      s.error_message()));
  }
}

Server& TheServer() {
  static Server* server = new Server();  // lives for the whole fuzzing process
  return *server;
}

void Prepare(grpc::ClientContext* context, int auth) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (auth == 0) context->AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  if (auth == 2) context->AddMetadata("authorization", "Bearer not-the-token");
}

void CheckCode(const grpc::Status& s, std::set<grpc::StatusCode> allowed, int auth,
               const char* rpc) {
  if (auth != 0) {
    if (s.error_code() != grpc::StatusCode::UNAUTHENTICATED) {
      Fail(absl::StrCat(rpc, " without the right token: code ", s.error_code()));
    }
    return;
  }
  if (!allowed.count(s.error_code())) {
    Fail(absl::StrCat(rpc, ": unexpected code ", s.error_code(), ": ", s.error_message()));
  }
  if (!s.ok() && s.error_message().empty()) Fail(absl::StrCat(rpc, ": error without a message"));
}

void Insert(Server& server, sac::fuzz::FuzzInput* in, int auth) {
  // The pieces as sent; those that parse, in order, up to the first that does not.
  std::vector<absl::string_view> pieces;
  std::vector<v1::InsertRequest> requests;
  bool unparseable = false;
  while (!in->empty() && pieces.size() < 4) {
    pieces.push_back(in->Piece());
    v1::InsertRequest r;
    if (unparseable) continue;
    if (r.ParseFromArray(pieces.back().data(), static_cast<int>(pieces.back().size()))) {
      requests.push_back(std::move(r));
    } else {
      unparseable = true;
    }
  }
  replay::ReplayTable* table = server.shard->table();
  const uint64_t inserts_before = table->inserts_total();
  grpc::ClientContext context;
  Prepare(&context, auth);
  const grpc::internal::RpcMethod rpc("/sac.v1.ReplayService/Insert",
                                      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          server.channel.get(), rpc, &context));
  for (absl::string_view piece : pieces) {
    if (!stream->Write(Bytes(piece))) break;  // the server ended the stream (a refused batch)
  }
  stream->WritesDone();
  std::vector<v1::InsertResponse> acks;
  grpc::ByteBuffer ack_bytes;
  while (stream->Read(&ack_bytes)) {
    v1::InsertResponse ack;
    if (!grpc::SerializationTraits<v1::InsertResponse>::Deserialize(&ack_bytes, &ack).ok()) {
      Fail("an ack that does not parse");
    }
    acks.push_back(ack);
  }
  const grpc::Status status = stream->Finish();
  CheckCode(status,
            {grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
             grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::FAILED_PRECONDITION},
            auth, "Insert");
  if (acks.size() > requests.size()) Fail("more acks than batches");
  if (status.ok() && (unparseable || acks.size() != requests.size())) {
    Fail("an OK stream left batches unacked or unparsed");
  }
  // Every batch before the unparseable one was stored: the stream ended there.
  if (unparseable && acks.size() == requests.size()) {
    CheckUnparseable(status, auth, "Insert", "sac.v1.InsertRequest");
  }
  uint64_t acked_rows = 0;
  for (size_t i = 0; i < acks.size(); ++i) {
    if (acks[i].sequence() != requests[i].sequence()) Fail("ack out of order");
    acked_rows += static_cast<uint64_t>(requests[i].batch().obs().shape(0));
  }
  if (table->inserts_total() - inserts_before != acked_rows) {
    Fail(absl::StrCat("table grew by ", table->inserts_total() - inserts_before, " rows, acked ",
                      acked_rows));
  }
}

void Sample(Server& server, sac::fuzz::FuzzInput* in, int auth) {
  const absl::string_view bytes = in->Rest();
  v1::SampleRequest request;
  const bool parsed = request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  grpc::ClientContext context;
  Prepare(&context, auth);
  std::string response_bytes;
  const grpc::Status status = RawUnary(server, &context, "Sample", bytes, &response_bytes);
  CheckCode(status,
            {grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
             grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::FAILED_PRECONDITION},
            auth, "Sample");
  if (!parsed) return CheckUnparseable(status, auth, "Sample", "sac.v1.SampleRequest");
  if (!status.ok()) return;
  v1::SampleResponse response;
  if (!response.ParseFromString(response_bytes)) Fail("sample response does not parse");
  const int64_t b = request.batch_size();
  auto batch = replay::ValidateBatch(response.batch(), {kObs, kAct}, b);
  if (!batch.ok()) Fail("sample response is not a valid batch: " + batch.status().ToString());
  if (batch->rows.rows != b || response.key_size() != b) Fail("sample response size");
  const int64_t shape[] = {b};
  auto p = sac::DecodeTensor(response.probability(), "probability", shape);
  if (!p.ok()) Fail("sample probabilities: " + p.status().ToString());
  for (float v : p->values()) {
    if (!(v > 0 && v <= 1)) Fail("sample probability out of (0, 1]");
  }
}

void UpdatePriorities(Server& server, sac::fuzz::FuzzInput* in, int auth) {
  const absl::string_view bytes = in->Rest();
  v1::UpdatePrioritiesRequest request;
  const bool parsed = request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  grpc::ClientContext context;
  Prepare(&context, auth);
  std::string response_bytes;
  const grpc::Status status =
      RawUnary(server, &context, "UpdatePriorities", bytes, &response_bytes);
  CheckCode(status, {grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT}, auth,
            "UpdatePriorities");
  if (!parsed) {
    return CheckUnparseable(status, auth, "UpdatePriorities", "sac.v1.UpdatePrioritiesRequest");
  }
  v1::UpdatePrioritiesResponse response;
  if (status.ok() && !response.ParseFromString(response_bytes)) Fail("update response");
  if (status.ok() && response.updated() > static_cast<uint64_t>(request.key_size())) {
    Fail("more rows updated than keys given");
  }
}

void GetStatus(Server& server, sac::fuzz::FuzzInput* in, int auth) {
  const absl::string_view bytes = in->Rest();
  v1::ReplayStatusRequest request;
  const bool parsed = request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  grpc::ClientContext context;
  Prepare(&context, auth);
  std::string response_bytes;
  const grpc::Status status = RawUnary(server, &context, "GetStatus", bytes, &response_bytes);
  if (!parsed) {
    CheckCode(status, {grpc::StatusCode::INVALID_ARGUMENT}, auth, "GetStatus");
    return CheckUnparseable(status, auth, "GetStatus", "sac.v1.ReplayStatusRequest");
  }
  CheckCode(status, {grpc::StatusCode::OK}, auth, "GetStatus");
  v1::ReplayStatus response;
  if (status.ok() && !response.ParseFromString(response_bytes)) Fail("status response");
  if (status.ok() && (response.size() > kCapacity || response.capacity() != kCapacity)) {
    Fail("status reports an impossible table");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Server& server = TheServer();
  sac::fuzz::FuzzInput in(data, size);
  const int op = in.Byte() % 4;
  const int auth = in.Byte() % 3;
  const uint64_t before = server.shard->table()->inserts_total();
  switch (op) {
    case 0:
      Insert(server, &in, auth);
      break;
    case 1:
      Sample(server, &in, auth);
      break;
    case 2:
      UpdatePriorities(server, &in, auth);
      break;
    case 3:
      GetStatus(server, &in, auth);
      break;
  }
  if (auth != 0 && server.shard->table()->inserts_total() != before) {
    Fail("a call without the right token changed the table");
  }
  return 0;
}

// LibTorch (from the wheel), gRPC 1.51 and protobuf 3.21 (from Debian) in one
// process: a tensor op, a proto round trip, and an RPC carrying the result.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/server.h"
#include "common/tensor_codec.h"
#include "sac/v1/status.grpc.pb.h"
#include "sac/v1/transition.pb.h"
#include "tests/torch_codec.h"

namespace sac {
namespace {

TEST(InteropLink, TensorOpProtoRoundTripAndRpc) {
  torch::manual_seed(1);
  const torch::Tensor obs = torch::randn({8, 17});
  const torch::Tensor w = torch::randn({17, 6});
  const torch::Tensor action = torch::tanh(torch::matmul(obs, w));

  v1::TransitionBatch batch;
  TensorToProto(obs, batch.mutable_obs());
  TensorToProto(action, batch.mutable_action());
  v1::TransitionBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(batch.SerializeAsString()));
  auto back = ProtoToTensor(parsed.action(), "action", std::vector<int64_t>{8, 6});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(torch::equal(*back, action));

  // A gRPC server in this process answers with a value computed by torch.
  class Service final : public v1::LearnerService::Service {
   public:
    explicit Service(double t) : temperature_(t) {}
    grpc::Status GetStatus(grpc::ServerContext*, const v1::LearnerStatusRequest*,
                           v1::LearnerStatus* out) override {
      out->set_temperature(temperature_);
      return grpc::Status::OK;
    }

   private:
    double temperature_;
  };
  const double expected = action.abs().mean().item<double>();
  Service service(expected);
  v1::ServerConfig config;
  config.set_grpc_address("127.0.0.1:0");
  config.set_max_message_bytes(1 << 20);
  MetricsRegistry registry;
  auto endpoints = StartServing(config, {&service}, &registry, "");
  ASSERT_TRUE(endpoints.ok()) << endpoints.status();
  auto channel = MakeChannel("127.0.0.1:" + std::to_string(endpoints->grpc_port), {});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::LearnerService::NewStub(*channel);
  grpc::ClientContext ctx;
  PrepareClientContext(&ctx, absl::Seconds(10), "");
  v1::LearnerStatus status;
  ASSERT_TRUE(stub->GetStatus(&ctx, {}, &status).ok());
  EXPECT_EQ(status.temperature(), expected);
  endpoints->grpc_server->Shutdown();
}

}  // namespace
}  // namespace sac

// Test support (header-only): one replay shard served in-process on
// 127.0.0.1 (table, limiter, service, gRPC server), for the service's and the
// client library's tests.
#ifndef SAC_REPLAY_SERVER_TEST_SHARD_H_
#define SAC_REPLAY_SERVER_TEST_SHARD_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "common/server.h"
#include "replay_server/replay_service.h"
#include "replay_server/shard.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay::testing {

// Sizes of the test shards' rows.
inline constexpr int64_t kObs = 5, kAct = 2;

// One shard served in-process on 127.0.0.1.
class TestShard {
 public:
  // Serves `options` (sizes kObs, kAct) on `port` (0: any free one).
  explicit TestShard(ShardOptions options, const std::string& token = "", int port = 0) {
    options.table.spec = {kObs, kAct};
    auto shard = ReplayShard::Create(options, &registry_);
    EXPECT_TRUE(shard.ok()) << shard.status();
    shard_ = std::move(*shard);
    service_ = std::make_unique<ReplayService>(shard_.get(), token);
    v1::ServerConfig config;
    config.set_grpc_address(absl::StrCat("127.0.0.1:", port));
    config.set_metrics_address("");
    config.set_max_message_bytes(64 << 20);
    auto endpoints = StartServing(config, {service_.get()}, &registry_, "");
    EXPECT_TRUE(endpoints.ok()) << endpoints.status();
    endpoints_ = std::move(*endpoints);
  }
  ~TestShard() { Stop(); }
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    shard_->StopAdmitting();
    endpoints_.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    EXPECT_TRUE(shard_->Close().ok());
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", endpoints_.grpc_port); }
  int port() const { return endpoints_.grpc_port; }
  ReplayShard* shard() { return shard_.get(); }
  MetricsRegistry* registry() { return &registry_; }

 private:
  MetricsRegistry registry_;
  std::unique_ptr<ReplayShard> shard_;
  std::unique_ptr<ReplayService> service_;
  ServingEndpoints endpoints_;
  bool stopped_ = false;
};

// A shard without durability: `capacity` rows, sampling from `min_size` rows,
// no samples-per-insert bound.
inline ShardOptions Plain(int64_t capacity = 10000, uint64_t min_size = 1) {
  ShardOptions o;
  o.table.capacity = capacity;
  o.limiter = {min_size, 0, 0};
  return o;
}

inline std::unique_ptr<v1::ReplayService::Stub> Stub(const std::string& address) {
  return v1::ReplayService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

}  // namespace sac::replay::testing

#endif  // SAC_REPLAY_SERVER_TEST_SHARD_H_

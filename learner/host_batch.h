// HostBatch: one batch of transitions in host memory as plain pointers, what the
// learner's Update consumes, so that callers need no LibTorch. And the
// conversion from the wire format (sac.v1.TransitionBatch) to it.
#ifndef SAC_LEARNER_HOST_BATCH_H_
#define SAC_LEARNER_HOST_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor_codec.h"
#include "sac/v1/transition.pb.h"

namespace sac::learner {

// Borrowed, read-only, row-major columns of `batch_size` transitions. The
// pointed-to memory must stay valid for the call that receives the batch.
struct HostBatch {
  int64_t batch_size = 0;
  int64_t obs_dim = 0;
  int64_t act_dim = 0;
  const float* obs = nullptr;           // [batch_size, obs_dim]
  const float* action = nullptr;        // [batch_size, act_dim], in env units (within bounds)
  const float* reward = nullptr;        // [batch_size], the task's raw reward (unscaled)
  const float* next_obs = nullptr;      // [batch_size, obs_dim]
  const uint8_t* terminated = nullptr;  // [batch_size], 0/1: stop bootstrapping
  const uint8_t* truncated = nullptr;   // [batch_size], 0/1: time limit, still bootstraps
};

// Columns that own their values (test batches, tools); host(n) is a HostBatch
// over the first n rows.
struct HostBatchColumns {
  int64_t obs_dim = 0;
  int64_t act_dim = 0;
  std::vector<float> obs, action, reward, next_obs;
  std::vector<uint8_t> terminated, truncated;
  HostBatch host(int64_t rows) const {
    return HostBatch{rows,          obs_dim,         act_dim,           obs.data(),
                     action.data(), reward.data(),   next_obs.data(),   terminated.data(),
                     truncated.data()};
  }
};

// Checks that the pointers are set and the sizes are the expected ones.
absl::Status ValidateHostBatch(const HostBatch& batch, int64_t obs_dim, int64_t act_dim);

// A TransitionBatch decoded and checked (shapes, finite values, 0/1 flags), seen
// as a HostBatch. Points into the message where it can: the message must outlive
// this object and stay unmodified.
class DecodedTransitionBatch {
 public:
  static absl::StatusOr<DecodedTransitionBatch> FromProto(const v1::TransitionBatch& batch,
                                                          int64_t obs_dim, int64_t act_dim);
  const HostBatch& host() const { return host_; }

  // Move-only: host_ points into the views' buffers, which a move keeps.
  DecodedTransitionBatch(DecodedTransitionBatch&&) = default;
  DecodedTransitionBatch& operator=(DecodedTransitionBatch&&) = default;
  DecodedTransitionBatch(const DecodedTransitionBatch&) = delete;
  DecodedTransitionBatch& operator=(const DecodedTransitionBatch&) = delete;

 private:
  DecodedTransitionBatch() = default;
  TensorView obs_, action_, reward_, next_obs_;
  HostBatch host_;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_HOST_BATCH_H_

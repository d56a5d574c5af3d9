// HostBatch: one batch of transitions in host memory as plain pointers, what the
// learner's Update consumes, so that callers need no LibTorch. And the view of
// a decoded wire batch (common/transition_batch.h, validated by the sampler)
// as one.
#ifndef SAC_LEARNER_HOST_BATCH_H_
#define SAC_LEARNER_HOST_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/transition_batch.h"

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
    return HostBatch{
        rows,          obs_dim,         act_dim,           obs.data(),      action.data(),
        reward.data(), next_obs.data(), terminated.data(), truncated.data()};
  }
};

// Checks that the pointers are set and the sizes are the expected ones.
absl::Status ValidateHostBatch(const HostBatch& batch, int64_t obs_dim, int64_t act_dim);

// The columns of a decoded batch (valid by construction: no check here). The
// result points into `batch`, which must outlive the call that receives it.
HostBatch HostBatchOf(const TransitionBatchView& batch);

}  // namespace sac::learner

#endif  // SAC_LEARNER_HOST_BATCH_H_

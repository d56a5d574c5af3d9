#include "learner/host_batch.h"

#include "absl/strings/str_cat.h"

namespace sac::learner {

absl::Status ValidateHostBatch(const HostBatch& batch, int64_t obs_dim, int64_t act_dim) {
  if (batch.batch_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size is ", batch.batch_size));
  }
  if (batch.obs_dim != obs_dim || batch.act_dim != act_dim) {
    return absl::InvalidArgumentError(absl::StrCat("batch has obs_dim ", batch.obs_dim, " act_dim ",
                                                   batch.act_dim, ", the learner expects ", obs_dim,
                                                   " and ", act_dim));
  }
  if (batch.obs == nullptr || batch.action == nullptr || batch.reward == nullptr ||
      batch.next_obs == nullptr || batch.terminated == nullptr || batch.truncated == nullptr) {
    return absl::InvalidArgumentError("batch has a missing column (null pointer)");
  }
  return absl::OkStatus();
}

HostBatch HostBatchOf(const TransitionBatchView& batch) {
  return HostBatch{batch.rows(),     batch.obs_dim(),    batch.act_dim(),
                   batch.obs(),      batch.action(),     batch.reward(),
                   batch.next_obs(), batch.terminated(), batch.truncated()};
}

}  // namespace sac::learner

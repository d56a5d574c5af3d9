#include "learner/host_batch.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

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

absl::StatusOr<DecodedTransitionBatch> DecodedTransitionBatch::FromProto(
    const v1::TransitionBatch& batch, int64_t obs_dim, int64_t act_dim) {
  DecodedTransitionBatch out;
  const int64_t obs_shape[] = {kAnyDim, obs_dim};
  ASSIGN_OR_RETURN(out.obs_, DecodeTensor(batch.obs(), "obs", obs_shape));
  const int64_t rows = out.obs_.shape()[0];
  const int64_t next_obs_shape[] = {rows, obs_dim};
  const int64_t action_shape[] = {rows, act_dim};
  const int64_t reward_shape[] = {rows};
  ASSIGN_OR_RETURN(out.action_, DecodeTensor(batch.action(), "action", action_shape));
  ASSIGN_OR_RETURN(out.reward_, DecodeTensor(batch.reward(), "reward", reward_shape));
  ASSIGN_OR_RETURN(out.next_obs_, DecodeTensor(batch.next_obs(), "next_obs", next_obs_shape));
  RETURN_IF_ERROR(CheckFlagColumn(batch.terminated(), rows, "terminated"));
  RETURN_IF_ERROR(CheckFlagColumn(batch.truncated(), rows, "truncated"));
  if (rows == 0) return absl::InvalidArgumentError("transition batch is empty");
  out.host_.batch_size = rows;
  out.host_.obs_dim = obs_dim;
  out.host_.act_dim = act_dim;
  out.host_.obs = out.obs_.values().data();
  out.host_.action = out.action_.values().data();
  out.host_.reward = out.reward_.values().data();
  out.host_.next_obs = out.next_obs_.values().data();
  out.host_.terminated = reinterpret_cast<const uint8_t*>(batch.terminated().data());
  out.host_.truncated = reinterpret_cast<const uint8_t*>(batch.truncated().data());
  return out;
}

}  // namespace sac::learner

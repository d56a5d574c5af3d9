#include "common/transition_batch.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/tensor_codec.h"

namespace sac {

TransitionBatchView::Floats TransitionBatchView::Floats::Over(const std::string& bytes) {
  Floats f;
  const size_t n = bytes.size() / sizeof(float);
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
    f.values = {reinterpret_cast<const float*>(bytes.data()), n};
  } else {
    f.copy.resize(n);
    if (n > 0) std::memcpy(f.copy.data(), bytes.data(), n * sizeof(float));
    f.values = f.copy;
  }
  return f;
}

void TransitionBatchView::PointAt(const v1::TransitionBatch& batch, int64_t rows, int64_t obs_dim,
                                  int64_t act_dim) {
  rows_ = rows;
  obs_dim_ = obs_dim;
  act_dim_ = act_dim;
  obs_ = Floats::Over(batch.obs().data());
  action_ = Floats::Over(batch.action().data());
  reward_ = Floats::Over(batch.reward().data());
  next_obs_ = Floats::Over(batch.next_obs().data());
  terminated_ = reinterpret_cast<const uint8_t*>(batch.terminated().data());
  truncated_ = reinterpret_cast<const uint8_t*>(batch.truncated().data());
  policy_version_ = batch.policy_version().data();
  actor_id_ = batch.actor_id().data();
}

absl::StatusOr<TransitionBatchView> TransitionBatchView::Decode(const v1::TransitionBatch& batch,
                                                                int64_t obs_dim, int64_t act_dim,
                                                                int64_t max_rows) {
  if (batch.obs().shape_size() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch.obs: shape ",
        ShapeToString({batch.obs().shape().data(), static_cast<size_t>(batch.obs().shape_size())}),
        ", expected [B, ", obs_dim, "]"));
  }
  const int64_t b = batch.obs().shape(0);
  if (b < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch.obs: ", b, " rows, expected at least 1"));
  }
  if (b > max_rows) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch.obs: ", b, " rows exceed the limit of ", max_rows, " per batch"));
  }
  // Shapes, byte counts and finite values; the views themselves are not kept
  // (PointAt points at the same bytes).
  const int64_t matrix_obs[] = {b, obs_dim};
  const int64_t matrix_act[] = {b, act_dim};
  const int64_t vector[] = {b};
  RETURN_IF_ERROR(DecodeTensor(batch.obs(), "batch.obs", matrix_obs).status());
  RETURN_IF_ERROR(DecodeTensor(batch.action(), "batch.action", matrix_act).status());
  RETURN_IF_ERROR(DecodeTensor(batch.reward(), "batch.reward", vector).status());
  RETURN_IF_ERROR(DecodeTensor(batch.next_obs(), "batch.next_obs", matrix_obs).status());
  RETURN_IF_ERROR(CheckFlagColumn(batch.terminated(), b, "batch.terminated"));
  RETURN_IF_ERROR(CheckFlagColumn(batch.truncated(), b, "batch.truncated"));
  if (batch.policy_version_size() != b) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch.policy_version: ", batch.policy_version_size(),
                     " values, expected one per row (", b, ")"));
  }
  if (batch.actor_id_size() != b) {
    return absl::InvalidArgumentError(absl::StrCat("batch.actor_id: ", batch.actor_id_size(),
                                                   " values, expected one per row (", b, ")"));
  }
  TransitionBatchView view;
  view.PointAt(batch, b, obs_dim, act_dim);
  return view;
}

TransitionBatchView TransitionBatchView::Concat(std::span<const TransitionBatchView* const> parts,
                                                v1::TransitionBatch* out) {
  out->Clear();
  const int64_t obs_dim = parts.front()->obs_dim();
  const int64_t act_dim = parts.front()->act_dim();
  int64_t rows = 0;
  for (const TransitionBatchView* p : parts) rows += p->rows();
  auto append = [](std::string* to, const void* from, int64_t bytes) {
    to->append(static_cast<const char*>(from), static_cast<size_t>(bytes));
  };
  const int64_t f = static_cast<int64_t>(sizeof(float));
  for (const TransitionBatchView* p : parts) {
    const int64_t r = p->rows();
    append(out->mutable_obs()->mutable_data(), p->obs(), r * obs_dim * f);
    append(out->mutable_action()->mutable_data(), p->action(), r * act_dim * f);
    append(out->mutable_reward()->mutable_data(), p->reward(), r * f);
    append(out->mutable_next_obs()->mutable_data(), p->next_obs(), r * obs_dim * f);
    append(out->mutable_terminated(), p->terminated(), r);
    append(out->mutable_truncated(), p->truncated(), r);
    out->mutable_policy_version()->Add(p->policy_version(), p->policy_version() + r);
    out->mutable_actor_id()->Add(p->actor_id(), p->actor_id() + r);
  }
  out->mutable_obs()->add_shape(rows);
  out->mutable_obs()->add_shape(obs_dim);
  out->mutable_action()->add_shape(rows);
  out->mutable_action()->add_shape(act_dim);
  out->mutable_reward()->add_shape(rows);
  out->mutable_next_obs()->add_shape(rows);
  out->mutable_next_obs()->add_shape(obs_dim);
  TransitionBatchView view;
  view.PointAt(*out, rows, obs_dim, act_dim);
  return view;
}

}  // namespace sac

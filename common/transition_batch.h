// The one decoder and validator of a wire sac.v1.TransitionBatch, used on both
// sides of the replay service: the shard checks every inserted batch with it
// (replay_server/rows.h), and the learner's ReplaySampler checks every sampled
// batch with it (replay_client/replay_sampler.h) before the learner reads it
// (learner/host_batch.h). It lives in common/ because both processes use it and
// neither may include the other's headers.
//
// A TransitionBatchView is the decoded batch as raw row-major columns. It is
// made only by Decode (which checks everything) or by Concat of views that
// Decode made, so holding one means the batch is valid: code that receives a
// view does not check it again.
#ifndef SAC_COMMON_TRANSITION_BATCH_H_
#define SAC_COMMON_TRANSITION_BATCH_H_

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "sac/v1/transition.pb.h"

namespace sac {

// Move-only. Points into the message it was decoded from (or, for Concat, into
// the message it wrote), which must outlive it and stay unmodified. Moving a
// view keeps its pointers valid.
class TransitionBatchView {
 public:
  static constexpr int64_t kNoRowLimit = std::numeric_limits<int64_t>::max();

  // Checks `batch` (field name "batch" in errors) against the sizes: obs
  // [B, obs_dim], action [B, act_dim], reward [B], next_obs [B, obs_dim], all
  // finite; terminated and truncated B bytes each 0 or 1; B policy versions and
  // B actor ids; 1 <= B <= max_rows. INVALID_ARGUMENT naming the field
  // ("batch.reward: ..."), or RESOURCE_EXHAUSTED when B exceeds max_rows.
  static absl::StatusOr<TransitionBatchView> Decode(const v1::TransitionBatch& batch,
                                                    int64_t obs_dim, int64_t act_dim,
                                                    int64_t max_rows = kNoRowLimit);

  // Writes the rows of `parts` (in order; all of the same sizes, at least one)
  // into `out` (replacing what it held) and returns the view of `out`. The
  // parts are valid views already, so nothing is checked again.
  static TransitionBatchView Concat(std::span<const TransitionBatchView* const> parts,
                                    v1::TransitionBatch* out);

  TransitionBatchView(TransitionBatchView&&) noexcept = default;
  TransitionBatchView& operator=(TransitionBatchView&&) noexcept = default;
  TransitionBatchView(const TransitionBatchView&) = delete;
  TransitionBatchView& operator=(const TransitionBatchView&) = delete;

  int64_t rows() const { return rows_; }
  int64_t obs_dim() const { return obs_dim_; }
  int64_t act_dim() const { return act_dim_; }
  const float* obs() const { return obs_.values.data(); }             // [rows, obs_dim]
  const float* action() const { return action_.values.data(); }       // [rows, act_dim]
  const float* reward() const { return reward_.values.data(); }       // [rows]
  const float* next_obs() const { return next_obs_.values.data(); }   // [rows, obs_dim]
  const uint8_t* terminated() const { return terminated_; }           // [rows], 0 or 1
  const uint8_t* truncated() const { return truncated_; }             // [rows], 0 or 1
  const uint64_t* policy_version() const { return policy_version_; }  // [rows]
  const uint32_t* actor_id() const { return actor_id_; }              // [rows]

 private:
  // A float column: the message's bytes in place when they are aligned for
  // float, else a copy of them.
  struct Floats {
    std::span<const float> values;
    std::vector<float> copy;
    static Floats Over(const std::string& bytes);
  };

  TransitionBatchView() = default;
  // Points the columns at `batch`, whose sizes are known to be right.
  void PointAt(const v1::TransitionBatch& batch, int64_t rows, int64_t obs_dim, int64_t act_dim);

  int64_t rows_ = 0, obs_dim_ = 0, act_dim_ = 0;
  Floats obs_, action_, reward_, next_obs_;
  const uint8_t* terminated_ = nullptr;
  const uint8_t* truncated_ = nullptr;
  const uint64_t* policy_version_ = nullptr;
  const uint32_t* actor_id_ = nullptr;
};

}  // namespace sac

#endif  // SAC_COMMON_TRANSITION_BATCH_H_

// ReplaySampler: the client side of the replay service's Sample, used by the
// learner. It draws one batch over S shards. No gRPC headers here: the stubs
// live in the .cc.
//
// The B rows are split among the shards by a multinomial draw with
// probabilities proportional to the shards' sizes, and each shard samples its
// part uniformly: every row of the union is then equally likely. The parts are
// fetched in parallel and merged into one columnar batch (rows of shard 0
// first) with keys, the shard of each row, and the probability of each row in
// the union (shard probability x shard share).
//
// Every shard's answer is validated here, once, with the one decoder
// (common/transition_batch.h) against the learner's sizes (`obs_dim`,
// `act_dim`): a MergedSample's batch() is valid, and the learner reads it
// without checking it again. A malformed answer fails the Sample with INTERNAL
// naming the shard, its address and the field.
//
// A shard that does not answer (connection refused or reset, shutting down, or
// no answer to GetStatus within the deadline: hung, partitioned) is left out
// (ShardHealth, shard_health.h): the split goes over the shards that answer
// (the union is then theirs), and the failed call is an error for that one
// Sample. The left-out shard is probed in the background with GetStatus, with
// exponential backoff (the client config's initial/max backoff), and joins the
// split again once it answers. A Sample that runs past its deadline on a
// shard's rate limiter is not a fault (the shard still answers GetStatus at
// once) and leaves it in.
//
// Thread-safety: thread-safe.
#ifndef SAC_REPLAY_CLIENT_REPLAY_SAMPLER_H_
#define SAC_REPLAY_CLIENT_REPLAY_SAMPLER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/transition_batch.h"
#include "sac/v1/config_common.pb.h"
#include "sac/v1/replay.pb.h"

namespace sac::replay {

struct SamplerOptions {
  std::vector<std::string> addresses;  // one per shard, shard i at index i
  v1::ClientConfig client;
  int64_t obs_dim = 0;  // sizes every sampled row must have (>= 1)
  int64_t act_dim = 0;
  int max_message_bytes = 64 << 20;
  uint64_t seed = 0;  // of the split; 0: random
};

// One batch drawn over the shards, validated.
class MergedSample {
 public:
  MergedSample(std::unique_ptr<v1::SampleResponse> response, std::vector<uint32_t> shard,
               TransitionBatchView batch)
      : response_(std::move(response)), shard_(std::move(shard)), batch_(std::move(batch)) {}

  // Batch, key and probability (in the union) of each row; table_size is the
  // union's size.
  const v1::SampleResponse& response() const { return *response_; }
  // Shard index of each row.
  const std::vector<uint32_t>& shard() const { return shard_; }
  // response().batch(), decoded and valid for the sampler's sizes.
  const TransitionBatchView& batch() const { return batch_; }

 private:
  // On the heap, so that batch_ (which points into it) survives moves.
  std::unique_ptr<v1::SampleResponse> response_;
  std::vector<uint32_t> shard_;
  TransitionBatchView batch_;
};

class ReplaySampler {
 public:
  static absl::StatusOr<std::unique_ptr<ReplaySampler>> Create(const SamplerOptions& options);
  virtual ~ReplaySampler() = default;

  // Draws `batch_size` rows over the shards, waiting on their rate limiters up
  // to `timeout`. Shard sizes come from the previous answers (GetStatus at first
  // or when every known size is 0). INTERNAL when a shard's answer is malformed
  // (IsMalformedSampleAnswer tells that case from other errors).
  virtual absl::StatusOr<MergedSample> Sample(int batch_size, absl::Duration timeout) = 0;
  // GetStatus of every shard, in shard order; the first failure fails it all.
  virtual absl::StatusOr<std::vector<v1::ReplayStatus>> Status(absl::Duration timeout) = 0;
  // GetStatus of each shard, in shard order, each its answer or its error. A
  // shard left out of sampling is not called (its error says why it is out), so
  // a hung shard costs the caller no wait once it has been found.
  virtual std::vector<absl::StatusOr<v1::ReplayStatus>> StatusEach(absl::Duration timeout) = 0;
  // Sets priorities of rows of one shard (prioritized tables).
  virtual absl::StatusOr<uint64_t> UpdatePriorities(uint32_t shard,
                                                    const std::vector<uint64_t>& keys,
                                                    const std::vector<float>& priorities,
                                                    absl::Duration timeout) = 0;
  virtual int num_shards() const = 0;
};

// True when `status` is Sample's refusal of a shard's malformed answer (the
// message names the shard and the field), as opposed to a shard's own error.
bool IsMalformedSampleAnswer(const absl::Status& status);

// Splits `batch_size` among shards of `sizes` rows by a multinomial draw with
// probabilities sizes[i] / sum (exposed for tests). All sizes 0: all zeros.
std::vector<int> SplitBatch(int batch_size, const std::vector<uint64_t>& sizes,
                            absl::BitGenRef gen);

}  // namespace sac::replay

#endif  // SAC_REPLAY_CLIENT_REPLAY_SAMPLER_H_

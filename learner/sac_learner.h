// SacLearner: the Soft Actor-Critic update (Haarnoja et al. 2018) in LibTorch,
// with exact checkpoints and portable policy snapshots. The learner process
// (sac-learner) owns one, feeds it sampled batches and publishes its policy.
//
// Variants (SacConfig.variant; docs/learner.md has the equations):
//  - "v1" (the paper): state value V with a Polyak target, twin soft Q,
//    tanh-squashed Gaussian policy, fixed temperature, reward scale.
//  - "v2": twin Q with Polyak target Qs, no V, temperature learned toward a
//    target entropy (-|A| by default), or held fixed (sac.learn_temperature=false).
//
// The update is written twice: in LibTorch autograd (any device) and by hand
// (CPU, the default there); learner/sac_learner_internal.h lists the files.
// Test-only entry points (an update with given noise, every tensor by name)
// live in learner/sac_learner_testing.h.
//
// This header includes no LibTorch (pimpl): any part may include it. Not
// thread-safe: one thread calls a learner at a time. The CPU thread count is a
// process-wide LibTorch setting that Create applies.
#ifndef SAC_LEARNER_SAC_LEARNER_H_
#define SAC_LEARNER_SAC_LEARNER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/host_batch.h"
#include "sac/v1/config_common.pb.h"
#include "sac/v1/policy.pb.h"

namespace sac::learner {

// A named float32 array, row-major; values.size() == product(shape).
struct NamedArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Implementation choices that do not change the math (within float rounding),
// switchable so that bench/learner_throughput can measure what each gives.
struct LearnerTuning {
  // The hand-written update (default): forward and backward of every network
  // written out (no autograd), preallocated buffers, fused elementwise steps
  // (CPU only; a CUDA learner uses autograd). false: LibTorch autograd, where
  // the switches below choose how the graph is built.
  bool manual_backward = true;
  // (hand-written) The Q-functions at the batch's actions and at the fresh
  // policy actions as one product per layer over both row sets ([2B, in]);
  // in the backward, only the fresh rows where that Q is the min of the twins
  // (the rows J_pi's gradient reaches) are kept, packed after the batch rows.
  bool stack_q_rows = true;
  // (autograd) Both Q-functions' first layers as one product (column slices after it).
  // Off by default: measured slower than two plain products here (docs/perf.md).
  bool fuse_twin_q = false;
  bool fused_adam = true;       // one fused Adam kernel over all parameters
  bool no_grad_targets = true;  // (autograd) Bellman targets computed without autograd
};

struct LearnerOptions {
  std::string task;  // e.g. "HalfCheetah-v5" (reward scale 20 for Humanoid-*)
  int64_t obs_dim = 0;
  int64_t act_dim = 0;
  std::vector<float> action_low;   // [act_dim], env units
  std::vector<float> action_high;  // [act_dim], high > low
  std::string device = "cpu";      // "cpu", "cuda" or "cuda:<index>"
  int threads = 1;                 // LibTorch intra-op CPU threads (process-wide)
  uint64_t seed = 0;               // initial weights and the policy noise
  LearnerTuning tuning;
};

// Scalars of one update, computed from the parameters before the update.
// Fields a variant does not have are NaN (v_loss, v_mean in v2; temperature_loss in v1
// and in v2 with a fixed temperature).
struct UpdateMetrics {
  double q1_loss = 0;           // J_Q(theta_1)
  double q2_loss = 0;           // J_Q(theta_2)
  double v_loss = 0;            // J_V(psi) (v1)
  double policy_loss = 0;       // J_pi(phi)
  double temperature_loss = 0;  // J(alpha) (v2, learned temperature)
  double temperature = 0;       // alpha used in this update
  double entropy = 0;           // -mean log pi(a|s) of the fresh actions at s
  double mean_log_prob = 0;     // mean log pi(a|s)
  double q1_mean = 0;           // mean Q1(s, a) on the batch's actions
  double q2_mean = 0;
  double v_mean = 0;         // mean V(s) (v1)
  double q_target_mean = 0;  // mean Bellman target Q-hat
  double log_std_mean = 0;   // mean clamped log-std of the policy at s
  uint64_t updates = 0;      // counter after this update
};

class SacLearner {
 public:
  // Builds the networks (initialized like torch.nn.Linear: U(-1/sqrt(in),
  // 1/sqrt(in)) for weights and biases, from `options.seed`). Errors:
  // INVALID_ARGUMENT for bad sizes, bounds or config; FAILED_PRECONDITION when
  // the device is CUDA and no such device is present.
  static absl::StatusOr<std::unique_ptr<SacLearner>> Create(const v1::SacConfig& config,
                                                            const LearnerOptions& options);
  ~SacLearner();
  SacLearner(const SacLearner&) = delete;
  SacLearner& operator=(const SacLearner&) = delete;

  // One gradient step of every network, temperature (v2, when learned) and Polyak target on
  // `batch`, with policy noise from the learner's generator.
  absl::StatusOr<UpdateMetrics> Update(const HostBatch& batch);

  // The policy network as float32 arrays, names and shapes as docs/learner.md
  // fixes them: policy.fc{i}.weight [out, in], policy.fc{i}.bias [out],
  // policy.mean.weight/bias, policy.log_std.weight/bias.
  std::vector<NamedArray> PolicyTensors() const;

  // PolicyMetadata with this learner's sizes, bounds, network shape, variant,
  // log-std range and update count; the caller adds version, env steps, time.
  v1::PolicyMetadata BaseMetadata() const;
  // Writes the policy as a safetensors file (atomically: temporary name, fsync,
  // rename) with `metadata` in its header, encoded by policy/policy_metadata;
  // sizes, bounds, shape and variant are checked against the learner.
  absl::Status WritePolicySnapshot(const std::string& path, const v1::PolicyMetadata& metadata);

  // Everything needed to continue training bit for bit (networks, targets,
  // optimizer moments and steps, temperature, counters, both RNG states, the
  // config and options) plus the caller's opaque `extra` bytes; written to a
  // temporary name, fsynced, renamed, with a checksum.
  absl::Status SaveCheckpoint(const std::string& path, absl::string_view extra = "");
  // Restores a checkpoint written by SaveCheckpoint. A torn or corrupt file is
  // DATA_LOSS, a foreign file INVALID_ARGUMENT, one of another variant, other
  // sizes or other action bounds FAILED_PRECONDITION; on error this learner is unchanged. `extra`
  // (may be null) receives the caller's bytes.
  absl::Status LoadCheckpoint(const std::string& path, std::string* extra = nullptr);

  uint64_t updates() const;
  // The effective config: defaults resolved (hidden sizes, reward scale, target
  // entropy).
  const v1::SacConfig& config() const;
  const LearnerOptions& options() const;
  // The device in LibTorch's spelling ("cpu", "cuda:0").
  std::string device() const;

  struct Impl;

 private:
  friend class SacLearnerTesting;  // the test-only entry points (sac_learner_testing.h)
  explicit SacLearner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_SAC_LEARNER_H_

// Private to the learner core (learner/sac_learner*.cc): SacLearner::Impl and
// what its parts share. The core is split along its seams:
//   sac_learner.cc          construction, the flat parameter buffers, Adam and
//                           Polyak, Update, the policy tensors
//   sac_update_autograd.cc  the update in LibTorch autograd (any device)
//   sac_update_manual.cc    the hand-written update (CPU: forward and backward
//                           written out, preallocated buffers)
//   sac_learner_files.cc    checkpoints and policy snapshots
//   sac_learner_testing.cc  the entry points only tests use (a separate library)
// Includes LibTorch: only the files listed above include it.
#ifndef SAC_LEARNER_SAC_LEARNER_INTERNAL_H_
#define SAC_LEARNER_SAC_LEARNER_INTERNAL_H_

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "learner/host_batch.h"
#include "learner/sac_kernels.h"
#include "learner/sac_learner.h"

namespace sac::learner {
namespace internal {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Runs `body`, turning LibTorch's exceptions into a Status at our boundary.
template <typename F>
auto Guarded(absl::string_view what, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(what, ": LibTorch error: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

// An MLP's parameters in torch.nn.Linear layout: weight[i] [out, in], bias[i]
// [out]. A twin network (two Q-functions evaluated together) stacks both along
// a leading dimension of 2: weight[i] [2, out, in], bias[i] [2, out].
struct Net {
  std::string name;  // "policy", "q", "q_target", "v", "v_target"
  bool twin = false;
  std::vector<torch::Tensor> weight;
  std::vector<torch::Tensor> bias;

  std::vector<torch::Tensor> Params() const {
    std::vector<torch::Tensor> out;
    for (size_t i = 0; i < weight.size(); ++i) {
      out.push_back(weight[i]);
      out.push_back(bias[i]);
    }
    return out;
  }
  // Internal (checkpoint) names, parallel to Params(). The policy's last layer
  // is "head": rows [0, A) the mean, rows [A, 2A) the log-std.
  std::vector<std::string> ParamNames() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < weight.size(); ++i) {
      const std::string layer = (name == "policy" && i + 1 == weight.size())
                                    ? std::string("head")
                                    : absl::StrCat("fc", i);
      out.push_back(absl::StrCat(name, ".", layer, ".weight"));
      out.push_back(absl::StrCat(name, ".", layer, ".bias"));
    }
    return out;
  }
};

// Sizes of an MLP from in_dim through hidden to out_dim, initialized like
// torch.nn.Linear from `gen` (sac_learner.cc).
Net MakeNet(const std::string& name, bool twin, int64_t in_dim, const std::vector<int64_t>& hidden,
            int64_t out_dim, torch::Generator& gen);
// A copy of `src` (new storage) named `name`.
Net CloneNet(const Net& src, const std::string& name);

// A plain MLP, ReLU between layers, none after the last. `detach`: use the
// weights as constants (gradients reach the input only). (sac_update_autograd.cc)
torch::Tensor MlpForward(const Net& net, torch::Tensor x, bool detach = false);
// Both Q-functions of a twin network on the same input x [B, in]: [2, B, out]
// (sac_update_autograd.cc, where `fused` is explained).
torch::Tensor TwinForward(const Net& net, const torch::Tensor& x, bool detach = false,
                          bool fused = true);

struct Squashed {
  torch::Tensor action;    // [B, A], env units
  torch::Tensor log_prob;  // [B]
};
// The tanh-squashed Gaussian sample and its log-density (sac_update_autograd.cc).
Squashed SquashSample(const torch::Tensor& mean, const torch::Tensor& log_std,
                      const torch::Tensor& eps, const torch::Tensor& scale,
                      const torch::Tensor& bias, double log_scale_sum);

// `t` as a float32 NamedArray on the host.
NamedArray ToNamed(const std::string& name, const torch::Tensor& t);

// One layer of an MLP as the hand-written update sees it: views into the flat
// parameter buffer and, for trained networks, into the flat gradient buffer.
struct Layer {
  torch::Tensor w, b;    // [out, in], [out]
  torch::Tensor gw, gb;  // gradients (undefined for target networks)
  torch::Tensor w16;     // bfloat16 copy of w (sac.matmul_dtype=bfloat16 only)
};
using Mlp = std::vector<Layer>;

// One MLP evaluation's buffers in the hand-written update, allocated once per
// batch size: hidden outputs (after ReLU), the gradients at the hidden layers'
// pre-activations, the output and its gradient. With bfloat16 products, also
// bfloat16 copies of the input, the hidden outputs and their gradients (the
// operands of the hidden layers' products).
struct Trace {
  std::vector<torch::Tensor> h, gh;
  torch::Tensor out, gout;
  torch::Tensor x16;
  std::vector<torch::Tensor> h16, g16;
};

// Scratch for the bfloat16 results of the hidden layers' products before they
// are widened into their float32 destinations; grows to the largest product
// in the first update, then is reused.
struct Bf16Scratch {
  torch::Tensor buffer;
  torch::Tensor Result(int64_t rows, int64_t cols);
};

// The layers of `net` (copy `c` of a twin), with gradient views from `grads`
// (parallel to net.Params(); empty for targets). (sac_update_manual.cc)
Mlp MakeMlp(const Net& net, int c, const std::vector<torch::Tensor>& grads);

}  // namespace internal

// The learner's state and its update buffers (SacLearner is a pimpl over it).
struct SacLearner::Impl {
  v1::SacConfig config;
  LearnerOptions options;
  torch::Device device = torch::kCPU;
  bool v2 = false;
  bool learn_alpha = false;  // v2 with sac.learn_temperature: log_alpha is trained
  bool manual = true;        // the hand-written update (CPU); false: LibTorch autograd
  bool bf16 = false;         // sac.matmul_dtype=bfloat16 (hand-written update only)
  std::vector<int64_t> hidden;
  double reward_scale = 1;
  double target_entropy = 0;
  double log_scale_sum = 0;
  torch::Tensor action_scale;  // [A] on device
  torch::Tensor action_bias;   // [A] on device

  internal::Net policy, q, q_target, v, v_target;  // v, v_target: v1 only; q_target: v2 only
  torch::Tensor log_alpha;  // [] on device; trained when learn_alpha, else fixed

  // Every trained tensor (policy, q, v in v1, log_alpha when learned, in this order)
  // is a view into flat_params; its gradient and Adam moments are views at the
  // same offsets of flat_grads, flat_exp_avg, flat_exp_avg_sq, so that Adam is
  // one fused kernel over one tensor. The target network is a view into
  // flat_targets, aligned with the source's segment of flat_params, so that
  // Polyak averaging is one lerp_.
  torch::Tensor flat_params, flat_grads, flat_exp_avg, flat_exp_avg_sq, flat_targets;
  int64_t source_offset = 0, source_numel = 0;
  torch::Tensor step;  // float [] on device: Adam's step count (the same for every tensor)
  // Per-tensor views (parallel), internal names.
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
  std::vector<std::string> param_names;
  std::vector<torch::Tensor> targets;
  std::vector<std::string> target_names;
  // bfloat16 copies of flat_params and flat_targets (bf16 only), refreshed at
  // the start of every hand-written update; the layers' w16 are views of them.
  torch::Tensor flat_params16, flat_targets16;

  // The hand-written update's view of the networks and its buffers.
  internal::Mlp policy_mlp, q_mlp[2], q_target_mlp[2], v_mlp, v_target_mlp;
  kernels::SquashParams squash;
  std::vector<float> scale_host, bias_host;
  struct Work {  // NOLINT(bugprone-reserved-identifier): __i0 is the implicit move's counter
    int64_t batch = 0;
    internal::Trace policy, policy_next, q_next[2], v, v_next;
    // Q at the batch's actions (rows [0, B)) and at the fresh actions (rows
    // [B, 2B)) share buffers, so that both can run as one product per layer.
    internal::Trace q_both[2], q_data[2], q_fresh[2];
    torch::Tensor xq_both;                     // [2B, obs + act]
    torch::Tensor xq_data, xq_fresh, xq_next;  // [B, obs + act] (the first two: rows of xq_both)
    torch::Tensor grad_action;                 // [B, A]: dL/d fresh action (J_pi through the Qs)
    torch::Tensor packed_action;               // [B, A] scratch
    std::vector<int64_t> active[2];  // fresh rows where Q_c is the min (gets J_pi's gradient)
    torch::Tensor log_prob, log_prob_next, tanh_u, std_eps, q_hat;
    internal::Bf16Scratch scratch16;
  } work;

  torch::Generator train_gen;  // policy noise of updates (CPU)
  torch::Generator eval_gen;   // policy noise of PolicyForward (CPU)
  uint64_t updates = 0;

  // Policy noise blocks of one update: v1 the actions at s; v2 at s', then at s.
  int NoiseDraws() const { return v2 ? 2 : 1; }

  absl::Status Init();
  torch::Tensor ToDevice(const void* data, int64_t rows, int64_t cols,
                         torch::ScalarType type) const;
  std::pair<torch::Tensor, torch::Tensor> PolicyHead(const torch::Tensor& obs) const;
  // One update in autograd (sac_update_autograd.cc); noise [NoiseDraws(), B, A] on device.
  UpdateMetrics Step(const HostBatch& batch, const torch::Tensor& noise);
  // One hand-written update (sac_update_manual.cc, CPU); noise as Step's, on the host.
  UpdateMetrics ManualStep(const HostBatch& batch, const float* noise);
  void PrepareWork(int64_t batch);
  // bf16: the bfloat16 copies of the weights and their views in the layers.
  void MakeBf16Weights();
  // Adam on every trained tensor (gradients in flat_grads), then Polyak.
  void OptimizerStep();
  // Every state tensor by internal name (checkpoint contents; sac_learner_files.cc).
  std::vector<std::pair<std::string, torch::Tensor>> StateTensors() const;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_SAC_LEARNER_INTERNAL_H_

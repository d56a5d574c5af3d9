// The policy of a snapshot as an ONNX model, for runtimes outside sac-cluster
// (onnxruntime, TensorRT, robot stacks). Called by `sacctl export` and
// `sacctl pull --format=onnx`; docs/learner.md describes the files.
//
// Two graphs, both over a dynamic batch N (the dim_param "N"):
//   deterministic  observation [N, obs_dim] -> action [N, act_dim]
//                  action = tanh(mean(observation)) * scale + bias
//   stochastic     observation [N, obs_dim], noise [N, act_dim] -> action
//                  action = tanh(mean + exp(clip(log_std, min, max)) * noise)
//                           * scale + bias
// with mean and log_std the MLP heads (Gemm + Relu per hidden layer), scale =
// (high - low) / 2, bias = (high + low) / 2, and the clip range the snapshot's
// (PolicyWeights). The noise is standard normal, drawn by the caller, so the
// graph itself is deterministic. The same float32 operations in the same order
// as PolicyMlp. Initializers carry the snapshot's tensor names
// (policy.fc0.weight, ...).
//
// Opset 17 with IR version 8 (the pair of ONNX 1.12, 2022): every operator used
// (Gemm, Relu, Tanh, Exp, Clip, Mul, Add) has kept its semantics since, and
// runtimes from onnxruntime 1.12 on load it; a newer opset would only narrow who
// can run the file. The model's metadata_props are the snapshot's metadata
// strings (policy/policy_metadata.h: task, obs_dim, act_dim, action_low,
// action_high, variant, version, env_steps, ...) plus "graph" =
// "deterministic" | "stochastic".
//
// No LibTorch: the messages come from onnx.proto (cmake/SacOnnx.cmake).
#ifndef SAC_POLICY_ONNX_EXPORT_H_
#define SAC_POLICY_ONNX_EXPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "onnx/onnx.pb.h"
#include "policy/policy_weights.h"
#include "policy/safetensors.h"

namespace sac {

enum class OnnxPolicyGraph { kDeterministic, kStochastic };

inline constexpr int64_t kOnnxOpsetVersion = 17;
inline constexpr int64_t kOnnxIrVersion = 8;
inline constexpr char kOnnxObservationInput[] = "observation";
inline constexpr char kOnnxNoiseInput[] = "noise";
inline constexpr char kOnnxActionOutput[] = "action";
inline constexpr char kOnnxBatchDim[] = "N";
inline constexpr char kOnnxGraphKey[] = "graph";

// "deterministic" or "stochastic": the value of the "graph" metadata key.
const char* OnnxPolicyGraphName(OnnxPolicyGraph graph);

// The model of `weights`. INVALID_ARGUMENT when it would not fit one ONNX file
// (protobuf's 2 GiB limit on a message).
absl::StatusOr<onnx::ModelProto> PolicyOnnxModel(const PolicyWeights& weights,
                                                 OnnxPolicyGraph graph);

// A snapshot file's contents -> the serialized model (the bytes of a .onnx
// file). Errors are PolicyWeightsFromSafetensors's or PolicyOnnxModel's.
absl::StatusOr<std::string> ExportPolicyOnnx(const SafetensorsFile& snapshot,
                                             OnnxPolicyGraph graph);

}  // namespace sac

#endif  // SAC_POLICY_ONNX_EXPORT_H_

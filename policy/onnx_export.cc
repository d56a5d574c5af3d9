#include "policy/onnx_export.h"

#include <bit>
#include <climits>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "policy/policy_metadata.h"

namespace sac {
namespace {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; add byte swapping for this host");

constexpr char kProducerName[] = "sac-cluster";

void SetFloatTensor(const std::string& name, std::initializer_list<int64_t> dims,
                    std::span<const float> values, onnx::TensorProto* tensor) {
  tensor->set_name(name);
  for (int64_t d : dims) tensor->add_dims(d);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  tensor->set_raw_data(reinterpret_cast<const char*>(values.data()), values.size_bytes());
}

// A float32 input or output of shape [N, columns], N dynamic.
void AddBatchValue(const std::string& name, int64_t columns, const std::string& doc,
                   google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* values) {
  onnx::ValueInfoProto* value = values->Add();
  value->set_name(name);
  value->set_doc_string(doc);
  onnx::TypeProto::Tensor* type = value->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  type->mutable_shape()->add_dim()->set_dim_param(kOnnxBatchDim);
  type->mutable_shape()->add_dim()->set_dim_value(columns);
}

// Appends the node computing `output` = op(inputs). Nodes are appended in
// topological order (ONNX requires it).
onnx::NodeProto* AddNode(onnx::GraphProto* graph, const std::string& op,
                         std::initializer_list<std::string> inputs, const std::string& output) {
  onnx::NodeProto* node = graph->add_node();
  node->set_name(absl::StrCat(output, "/", op));
  node->set_op_type(op);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(output);
  return node;
}

// x W^T + b as one Gemm (transB = 1: W stays [out, in] as in the snapshot);
// the weight and bias become initializers under the snapshot's names.
std::string AddDense(onnx::GraphProto* graph, const PolicyLayer& layer, const std::string& x,
                     const std::string& output) {
  const std::string weight = layer.name + ".weight";
  const std::string bias = layer.name + ".bias";
  SetFloatTensor(weight, {layer.out, layer.in}, layer.weight, graph->add_initializer());
  SetFloatTensor(bias, {layer.out}, layer.bias, graph->add_initializer());
  onnx::AttributeProto* trans_b =
      AddNode(graph, "Gemm", {x, weight, bias}, output)->add_attribute();
  trans_b->set_name("transB");
  trans_b->set_type(onnx::AttributeProto::INT);
  trans_b->set_i(1);
  return output;
}

}  // namespace

const char* OnnxPolicyGraphName(OnnxPolicyGraph graph) {
  return graph == OnnxPolicyGraph::kStochastic ? "stochastic" : "deterministic";
}

absl::StatusOr<onnx::ModelProto> PolicyOnnxModel(const PolicyWeights& weights,
                                                 OnnxPolicyGraph graph_kind) {
  const bool stochastic = graph_kind == OnnxPolicyGraph::kStochastic;
  const v1::PolicyMetadata& m = weights.metadata;
  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");  // the default ai.onnx operators
  opset->set_version(kOnnxOpsetVersion);
  model.set_producer_name(kProducerName);
  model.set_model_version(static_cast<int64_t>(m.version()));
  model.set_doc_string(absl::StrCat(
      "sac-cluster policy for ", m.task(), " (", m.variant(), ", version ", m.version(), ", ",
      m.env_steps(), " env steps), ", OnnxPolicyGraphName(graph_kind),
      stochastic ? ": action = tanh(mean + exp(clip(log_std)) * noise) * scale + bias"
                 : ": action = tanh(mean) * scale + bias"));
  for (const auto& [key, value] : PolicyMetadataToStrings(m)) {
    onnx::StringStringEntryProto* entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  onnx::StringStringEntryProto* graph_entry = model.add_metadata_props();
  graph_entry->set_key(kOnnxGraphKey);
  graph_entry->set_value(OnnxPolicyGraphName(graph_kind));

  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(absl::StrCat("sac_policy_", OnnxPolicyGraphName(graph_kind)));
  AddBatchValue(kOnnxObservationInput, weights.obs_dim, "observations, one row per environment",
                graph->mutable_input());
  if (stochastic) {
    AddBatchValue(kOnnxNoiseInput, weights.act_dim,
                  "standard normal noise, one row per observation", graph->mutable_input());
  }
  AddBatchValue(kOnnxActionOutput, weights.act_dim, "actions in the task's units, within bounds",
                graph->mutable_output());

  std::string h = kOnnxObservationInput;
  for (const PolicyLayer& layer : weights.hidden) {
    const std::string linear = AddDense(graph, layer, h, layer.name + ".linear");
    h = AddNode(graph, "Relu", {linear}, layer.name + ".relu")->output(0);
  }
  std::string u = AddDense(graph, weights.mean, h, "mean");
  if (stochastic) {
    SetFloatTensor("log_std_min", {}, std::span<const float>(&weights.log_std_min, 1),
                   graph->add_initializer());
    SetFloatTensor("log_std_max", {}, std::span<const float>(&weights.log_std_max, 1),
                   graph->add_initializer());
    const std::string raw = AddDense(graph, weights.log_std, h, "log_std.unclipped");
    AddNode(graph, "Clip", {raw, "log_std_min", "log_std_max"}, "log_std");
    AddNode(graph, "Exp", {"log_std"}, "std");
    AddNode(graph, "Mul", {"std", kOnnxNoiseInput}, "std_noise");
    u = AddNode(graph, "Add", {u, "std_noise"}, "u")->output(0);
  }
  SetFloatTensor("action_scale", {weights.act_dim}, weights.action_scale, graph->add_initializer());
  SetFloatTensor("action_bias", {weights.act_dim}, weights.action_bias, graph->add_initializer());
  AddNode(graph, "Tanh", {u}, "tanh_u");
  AddNode(graph, "Mul", {"tanh_u", "action_scale"}, "tanh_u_scaled");
  AddNode(graph, "Add", {"tanh_u_scaled", "action_bias"}, kOnnxActionOutput);

  if (model.ByteSizeLong() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: ", model.ByteSizeLong(),
                     " bytes of ONNX model, more than one protobuf message holds (2 GiB)"));
  }
  return model;
}

absl::StatusOr<std::string> ExportPolicyOnnx(const SafetensorsFile& snapshot,
                                             OnnxPolicyGraph graph) {
  ASSIGN_OR_RETURN(PolicyWeights weights, PolicyWeightsFromSafetensors(snapshot));
  ASSIGN_OR_RETURN(onnx::ModelProto model, PolicyOnnxModel(weights, graph));
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    return absl::InternalError("policy: the ONNX model did not serialize");
  }
  return bytes;
}

}  // namespace sac

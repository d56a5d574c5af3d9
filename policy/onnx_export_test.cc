#include "policy/onnx_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"
#include "policy/policy_mlp.h"
#include "policy/policy_testing.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

// A random policy 3 -> 5 -> 4 -> 2 with uneven bounds and a log-std clip range
// [-1, 0.5] that the log-std head's outputs cross on both sides.
SafetensorsFile RandomSnapshot(uint64_t seed) {
  v1::PolicyMetadata m;
  m.set_task("Hopper-v5");
  m.set_obs_dim(3);
  m.set_act_dim(2);
  m.add_hidden_sizes(5);
  m.add_hidden_sizes(4);
  m.set_activation("relu");
  m.set_variant("v2");
  m.set_version(42);
  m.set_env_steps(123456);
  m.set_updates(98765);
  m.set_wall_time_seconds(12.5);
  m.set_log_std_min(-1);
  m.set_log_std_max(0.5);
  EncodeVector(std::vector<float>{-2.0f, 0.0f}, m.mutable_action_low());
  EncodeVector(std::vector<float>{1.0f, 4.0f}, m.mutable_action_high());
  // The log-std head's weights three times the others', so its outputs cross
  // the clip range.
  return MakePolicySnapshot(m, [u = UniformValues(seed, 0.9f)](const std::string& name, size_t i) {
    return (name == "policy.log_std.weight" ? 3.0f : 1.0f) * u(name, i);
  });
}

// A row-major array, evaluated in double.
struct Array {
  std::vector<int64_t> dims;
  std::vector<double> values;
};

// The ONNX semantics of exactly the operators the export emits, as the ONNX
// operator specs state them (Gemm with transB = 1 and a [M] bias, elementwise
// ops with the broadcasts used: same shape, [N, A] op [A], and scalars for
// Clip). Fails the test on anything else, on a value used before it is
// defined, and on a value defined twice.
class GraphEvaluator {
 public:
  explicit GraphEvaluator(const onnx::GraphProto& graph) : graph_(graph) {
    for (const onnx::TensorProto& t : graph.initializer()) {
      EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT) << t.name();
      Array a{{t.dims().begin(), t.dims().end()}, {}};
      std::vector<float> f(t.raw_data().size() / sizeof(float));
      std::memcpy(f.data(), t.raw_data().data(), t.raw_data().size());
      a.values.assign(f.begin(), f.end());
      EXPECT_EQ(static_cast<int64_t>(a.values.size()), NumElements(a.dims)) << t.name();
      Define(t.name(), std::move(a));
    }
  }

  void Define(const std::string& name, Array a) {
    EXPECT_TRUE(values_.emplace(name, std::move(a)).second) << name << " defined twice";
  }

  const Array& Get(const std::string& name) {
    auto it = values_.find(name);
    if (it == values_.end()) {
      ADD_FAILURE() << name << " used before it is defined";
      static const Array empty;
      return empty;
    }
    return it->second;
  }

  // Runs every node in order; returns the graph's outputs by name.
  std::map<std::string, Array> Run() {
    for (const onnx::NodeProto& node : graph_.node()) {
      std::vector<const Array*> in;
      for (const std::string& name : node.input()) in.push_back(&Get(name));
      RunNode(node, in);
    }
    std::map<std::string, Array> out;
    for (const onnx::ValueInfoProto& v : graph_.output()) out[v.name()] = Get(v.name());
    return out;
  }

 private:
  void RunNode(const onnx::NodeProto& node, const std::vector<const Array*>& in) {
    ASSERT_EQ(node.output_size(), 1) << node.name();
    const std::string& op = node.op_type();
    Array y;
    if (op == "Gemm") {
      ASSERT_EQ(in.size(), 3u);
      ASSERT_EQ(node.attribute_size(), 1);
      ASSERT_EQ(node.attribute(0).name(), "transB");
      ASSERT_EQ(node.attribute(0).i(), 1);
      const Array &x = *in[0], &w = *in[1], &b = *in[2];
      ASSERT_EQ(x.dims.size(), 2u);
      ASSERT_EQ(w.dims.size(), 2u);
      ASSERT_EQ(x.dims[1], w.dims[1]) << node.name();
      ASSERT_EQ(b.dims, std::vector<int64_t>{w.dims[0]}) << node.name();
      const int64_t n = x.dims[0], k = x.dims[1], m = w.dims[0];
      y.dims = {n, m};
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t o = 0; o < m; ++o) {
          double s = b.values[o];
          for (int64_t i = 0; i < k; ++i) s += x.values[r * k + i] * w.values[o * k + i];
          y.values.push_back(s);
        }
      }
    } else if (op == "Relu" || op == "Tanh" || op == "Exp") {
      ASSERT_EQ(in.size(), 1u);
      y = *in[0];
      for (double& v : y.values) {
        v = op == "Relu" ? std::max(v, 0.0) : op == "Tanh" ? std::tanh(v) : std::exp(v);
      }
    } else if (op == "Clip") {
      ASSERT_EQ(in.size(), 3u);
      ASSERT_TRUE(in[1]->dims.empty() && in[2]->dims.empty()) << "Clip bounds are scalars";
      y = *in[0];
      for (double& v : y.values) v = std::clamp(v, in[1]->values[0], in[2]->values[0]);
    } else if (op == "Mul" || op == "Add") {
      ASSERT_EQ(in.size(), 2u);
      const Array &a = *in[0], &b = *in[1];
      ASSERT_EQ(a.dims.size(), 2u);
      ASSERT_TRUE(b.dims == a.dims || b.dims == std::vector<int64_t>{a.dims[1]})
          << node.name() << ": a broadcast the export does not use";
      y = a;
      for (size_t i = 0; i < y.values.size(); ++i) {
        const double bv = b.dims == a.dims ? b.values[i] : b.values[i % b.values.size()];
        y.values[i] = op == "Mul" ? y.values[i] * bv : y.values[i] + bv;
      }
    } else {
      FAIL() << "operator " << op << " is not one the export emits";
    }
    Define(node.output(0), std::move(y));
  }

  const onnx::GraphProto& graph_;
  std::map<std::string, Array> values_;
};

void ExpectBatchValue(const onnx::ValueInfoProto& v, const std::string& name, int64_t columns) {
  EXPECT_EQ(v.name(), name);
  const onnx::TypeProto::Tensor& t = v.type().tensor_type();
  EXPECT_EQ(t.elem_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(t.shape().dim_size(), 2);
  EXPECT_EQ(t.shape().dim(0).dim_param(), "N");
  EXPECT_FALSE(t.shape().dim(0).has_dim_value());
  EXPECT_EQ(t.shape().dim(1).dim_value(), columns);
}

std::map<std::string, std::string> MetadataProps(const onnx::ModelProto& model) {
  std::map<std::string, std::string> props;
  for (const auto& e : model.metadata_props()) {
    EXPECT_TRUE(props.emplace(e.key(), e.value()).second) << "duplicate key " << e.key();
  }
  return props;
}

TEST(OnnxExport, DeterministicGraphHasNamedIoVersionsAndMetadata) {
  const SafetensorsFile snapshot = RandomSnapshot(1);
  auto weights = PolicyWeightsFromSafetensors(snapshot);
  ASSERT_TRUE(weights.ok()) << weights.status();
  auto model = PolicyOnnxModel(*weights, OnnxPolicyGraph::kDeterministic);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->ir_version(), 8);
  ASSERT_EQ(model->opset_import_size(), 1);
  EXPECT_EQ(model->opset_import(0).domain(), "");
  EXPECT_EQ(model->opset_import(0).version(), 17);
  EXPECT_EQ(model->producer_name(), "sac-cluster");
  EXPECT_EQ(model->model_version(), 42);
  const onnx::GraphProto& g = model->graph();
  ASSERT_EQ(g.input_size(), 1);
  ExpectBatchValue(g.input(0), "observation", 3);
  ASSERT_EQ(g.output_size(), 1);
  ExpectBatchValue(g.output(0), "action", 2);

  // The snapshot's metadata strings exactly, plus the graph's kind; they read
  // back as the same PolicyMetadata.
  std::map<std::string, std::string> props = MetadataProps(*model);
  EXPECT_EQ(props["graph"], "deterministic");
  props.erase("graph");
  EXPECT_EQ(props, snapshot.metadata);
  auto metadata = PolicyMetadataFromStrings(props);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(metadata->SerializeAsString(), weights->metadata.SerializeAsString());

  // Initializers under the snapshot's names, bit for bit; no log-std head.
  std::set<std::string> names;
  for (const onnx::TensorProto& t : g.initializer()) {
    names.insert(t.name());
    auto it = snapshot.tensors.find(t.name());
    if (it == snapshot.tensors.end()) continue;
    EXPECT_THAT(std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                testing::ContainerEq(it->second.shape));
    EXPECT_EQ(t.raw_data(), std::string(reinterpret_cast<const char*>(it->second.values.data()),
                                        it->second.values.size() * sizeof(float)));
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"policy.fc0.weight", "policy.fc0.bias", "policy.fc1.weight",
                                   "policy.fc1.bias", "policy.mean.weight", "policy.mean.bias",
                                   "action_scale", "action_bias"}));
}

TEST(OnnxExport, StochasticGraphTakesNoise) {
  auto weights = PolicyWeightsFromSafetensors(RandomSnapshot(2));
  ASSERT_TRUE(weights.ok());
  auto model = PolicyOnnxModel(*weights, OnnxPolicyGraph::kStochastic);
  ASSERT_TRUE(model.ok()) << model.status();
  const onnx::GraphProto& g = model->graph();
  ASSERT_EQ(g.input_size(), 2);
  ExpectBatchValue(g.input(0), "observation", 3);
  ExpectBatchValue(g.input(1), "noise", 2);
  ASSERT_EQ(g.output_size(), 1);
  ExpectBatchValue(g.output(0), "action", 2);
  EXPECT_EQ(MetadataProps(*model)["graph"], "stochastic");
}

// Observations from a wide range so that ReLUs switch, tanh nears saturation
// and the log-std clip acts on both sides.
std::vector<float> Observations(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> obs(static_cast<size_t>(n) * 3);
  for (float& v : obs) v = normal(rng);
  return obs;
}

TEST(OnnxExport, DeterministicGraphComputesPolicyMlpsActions) {
  const SafetensorsFile snapshot = RandomSnapshot(3);
  auto weights = PolicyWeightsFromSafetensors(snapshot);
  ASSERT_TRUE(weights.ok());
  auto model = PolicyOnnxModel(*weights, OnnxPolicyGraph::kDeterministic);
  ASSERT_TRUE(model.ok());
  const int n = 500;
  const std::vector<float> obs = Observations(n, 3);
  GraphEvaluator eval(model->graph());
  eval.Define("observation", {{n, 3}, {obs.begin(), obs.end()}});
  std::map<std::string, Array> out = eval.Run();
  ASSERT_EQ(out["action"].dims, (std::vector<int64_t>{n, 2}));

  auto mlp = PolicyMlp::FromSafetensors(snapshot);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  std::vector<float> expected(static_cast<size_t>(n) * 2);
  (*mlp)->Act(obs, n, true, nullptr, expected);
  double max_diff = 0, max_unit = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(out["action"].values[i] - expected[i]));
    const double unit = (expected[i] - weights->action_bias[i % 2]) / weights->action_scale[i % 2];
    max_unit = std::max(max_unit, std::abs(unit));
  }
  EXPECT_LT(max_diff, 1e-5);
  EXPECT_GT(max_unit, 0.9);  // the squashing was exercised near the bounds
}

TEST(OnnxExport, StochasticGraphComputesTheReparameterizedSample) {
  auto weights = PolicyWeightsFromSafetensors(RandomSnapshot(4));
  ASSERT_TRUE(weights.ok());
  auto model = PolicyOnnxModel(*weights, OnnxPolicyGraph::kStochastic);
  ASSERT_TRUE(model.ok());
  const int n = 500;
  const std::vector<float> obs = Observations(n, 4);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> noise(static_cast<size_t>(n) * 2);
  for (float& v : noise) v = normal(rng);
  GraphEvaluator eval(model->graph());
  eval.Define("observation", {{n, 3}, {obs.begin(), obs.end()}});
  eval.Define("noise", {{n, 2}, {noise.begin(), noise.end()}});
  std::map<std::string, Array> out = eval.Run();
  ASSERT_EQ(out["action"].dims, (std::vector<int64_t>{n, 2}));

  // The reference: the layers of PolicyWeights written out in double.
  auto dense = [](const PolicyLayer& l, const std::vector<double>& x, bool relu) {
    std::vector<double> y(static_cast<size_t>(l.out));
    for (int o = 0; o < l.out; ++o) {
      double s = l.bias[o];
      for (int i = 0; i < l.in; ++i) s += static_cast<double>(l.weight[o * l.in + i]) * x[i];
      y[o] = relu ? std::max(s, 0.0) : s;
    }
    return y;
  };
  int clipped_low = 0, clipped_high = 0;
  double max_diff = 0;
  for (int r = 0; r < n; ++r) {
    const auto row = obs.begin() + 3 * static_cast<ptrdiff_t>(r);
    std::vector<double> h(row, row + 3);
    for (const PolicyLayer& l : weights->hidden) h = dense(l, h, true);
    const std::vector<double> mean = dense(weights->mean, h, false);
    const std::vector<double> log_std = dense(weights->log_std, h, false);
    for (int j = 0; j < 2; ++j) {
      clipped_low += log_std[j] < weights->log_std_min;
      clipped_high += log_std[j] > weights->log_std_max;
      const double ls = std::clamp<double>(log_std[j], weights->log_std_min, weights->log_std_max);
      const double u = mean[j] + std::exp(ls) * noise[2 * r + j];
      const double a = std::tanh(u) * weights->action_scale[j] + weights->action_bias[j];
      max_diff = std::max(max_diff, std::abs(out["action"].values[2 * r + j] - a));
    }
  }
  EXPECT_LT(max_diff, 1e-5);
  EXPECT_GT(clipped_low, 0);
  EXPECT_GT(clipped_high, 0);
}

TEST(OnnxExport, ExportSerializesTheModel) {
  const SafetensorsFile snapshot = RandomSnapshot(6);
  for (OnnxPolicyGraph kind : {OnnxPolicyGraph::kDeterministic, OnnxPolicyGraph::kStochastic}) {
    auto bytes = ExportPolicyOnnx(snapshot, kind);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    onnx::ModelProto parsed;
    ASSERT_TRUE(parsed.ParseFromString(*bytes));
    auto model = PolicyOnnxModel(*PolicyWeightsFromSafetensors(snapshot), kind);
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(parsed.SerializeAsString(), model->SerializeAsString());
    EXPECT_EQ(MetadataProps(parsed)["graph"], OnnxPolicyGraphName(kind));
  }
}

TEST(OnnxExport, RefusesWhatIsNotAValidPolicy) {
  SafetensorsFile snapshot = RandomSnapshot(7);
  snapshot.tensors.erase("policy.log_std.bias");
  EXPECT_THAT(ExportPolicyOnnx(snapshot, OnnxPolicyGraph::kDeterministic).status().message(),
              HasSubstr("policy.log_std"));
  snapshot = RandomSnapshot(7);
  snapshot.metadata["format"] = "something-else/1";
  EXPECT_THAT(ExportPolicyOnnx(snapshot, OnnxPolicyGraph::kDeterministic).status().message(),
              HasSubstr("format 'something-else/1'"));
  snapshot = RandomSnapshot(7);
  snapshot.tensors["policy.fc1.weight"].values[3] = std::nanf("");
  EXPECT_THAT(ExportPolicyOnnx(snapshot, OnnxPolicyGraph::kStochastic).status().message(),
              HasSubstr("not finite"));
}

}  // namespace
}  // namespace sac

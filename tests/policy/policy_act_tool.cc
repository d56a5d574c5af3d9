// sac_policy_act_tool: the C++ PolicyMlp's deterministic actions on given
// observations, for the Python parity test of the ONNX export
// (tests/python/test_onnx_export.py). Not a product binary.
//
//   sac_policy_act_tool SNAPSHOT OBSERVATIONS OUT
//
// OBSERVATIONS is a safetensors file with "observation" [N, obs_dim]; OUT gets
// "action" [N, act_dim] from one batched PolicyMlp::Act (the actor's call).
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "policy/policy_mlp.h"
#include "policy/safetensors.h"

namespace sac {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "sac_policy_act_tool: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Run(const std::string& snapshot_path, const std::string& obs_path, const std::string& out) {
  auto snapshot = ReadSafetensorsFile(snapshot_path);
  if (!snapshot.ok()) return Fail(snapshot.status());
  auto policy = PolicyMlp::FromSafetensors(*snapshot);
  if (!policy.ok()) return Fail(policy.status());
  auto obs_file = ReadSafetensorsFile(obs_path);
  if (!obs_file.ok()) return Fail(obs_file.status());
  auto obs = obs_file->tensors.find("observation");
  const int obs_dim = (*policy)->obs_dim(), act_dim = (*policy)->act_dim();
  if (obs == obs_file->tensors.end() || obs->second.shape.size() != 2 ||
      obs->second.shape[1] != obs_dim) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(obs_path, ": needs a tensor 'observation' [N, ", obs_dim, "]")));
  }
  const int n = static_cast<int>(obs->second.shape[0]);
  SafetensorsTensor actions{{n, act_dim}, std::vector<float>(static_cast<size_t>(n) * act_dim)};
  (*policy)->Act(obs->second.values, n, /*deterministic=*/true, nullptr, actions.values);
  SafetensorsFile result;
  result.tensors["action"] = std::move(actions);
  if (absl::Status s = WriteFileAtomically(out, SerializeSafetensors(result)); !s.ok()) {
    return Fail(s);
  }
  return 0;
}

}  // namespace
}  // namespace sac

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: sac_policy_act_tool SNAPSHOT OBSERVATIONS OUT\n");
    return 2;
  }
  return sac::Run(argv[1], argv[2], argv[3]);
}

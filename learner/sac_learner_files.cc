// The learner core's files: exact checkpoints (learner/checkpoint_file.h's
// container) and portable policy snapshots (safetensors with the policy
// metadata, docs/learner.md).
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "learner/checkpoint_file.h"
#include "learner/sac_learner_internal.h"
#include "policy/policy_metadata.h"
#include "policy/safetensors.h"

namespace sac::learner {

using internal::Guarded;
using torch::Tensor;

namespace {

constexpr char kCheckpointFormat[] = "sac-cluster-learner-checkpoint/1";

CheckpointArray ToArray(const Tensor& t) {
  CheckpointArray a;
  const Tensor c = t.detach().to(torch::kCPU).contiguous();
  if (c.scalar_type() == torch::kFloat) {
    a.dtype = ArrayDtype::kFloat32;
  } else if (c.scalar_type() == torch::kByte) {
    a.dtype = ArrayDtype::kUint8;
  } else {
    a.dtype = ArrayDtype::kInt64;
  }
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  a.bytes.assign(static_cast<const char*>(c.data_ptr()), c.nbytes());
  return a;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> SacLearner::Impl::StateTensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params.size(); ++i) {
    out.emplace_back(param_names[i], params[i]);
    out.emplace_back(absl::StrCat("adam.exp_avg.", param_names[i]), exp_avg[i]);
    out.emplace_back(absl::StrCat("adam.exp_avg_sq.", param_names[i]), exp_avg_sq[i]);
    // One step count for all (every tensor is stepped every update); the file
    // keeps one entry per tensor, as torch.optim.Adam's state has.
    out.emplace_back(absl::StrCat("adam.step.", param_names[i]), step);
  }
  for (size_t i = 0; i < targets.size(); ++i) out.emplace_back(target_names[i], targets[i]);
  if (!learn_alpha) out.emplace_back("log_alpha", log_alpha);
  return out;
}
v1::PolicyMetadata SacLearner::BaseMetadata() const {
  v1::PolicyMetadata m;
  m.set_task(impl_->options.task);
  m.set_obs_dim(static_cast<uint32_t>(impl_->options.obs_dim));
  m.set_act_dim(static_cast<uint32_t>(impl_->options.act_dim));
  EncodeVector(impl_->options.action_low, m.mutable_action_low());
  EncodeVector(impl_->options.action_high, m.mutable_action_high());
  for (const int64_t h : impl_->hidden) m.add_hidden_sizes(static_cast<uint32_t>(h));
  m.set_activation("relu");
  m.set_variant(impl_->config.variant());
  m.set_updates(impl_->updates);
  m.set_log_std_min(impl_->config.log_std_min());
  m.set_log_std_max(impl_->config.log_std_max());
  return m;
}

absl::Status SacLearner::WritePolicySnapshot(const std::string& path,
                                             const v1::PolicyMetadata& metadata) {
  const v1::PolicyMetadata base = BaseMetadata();
  if (metadata.obs_dim() != base.obs_dim() || metadata.act_dim() != base.act_dim() ||
      metadata.variant() != base.variant() || metadata.activation() != base.activation() ||
      absl::StrJoin(metadata.hidden_sizes(), ",") != absl::StrJoin(base.hidden_sizes(), ",") ||
      metadata.action_low().SerializeAsString() != base.action_low().SerializeAsString() ||
      metadata.action_high().SerializeAsString() != base.action_high().SerializeAsString() ||
      metadata.log_std_min() != base.log_std_min() ||
      metadata.log_std_max() != base.log_std_max()) {
    return absl::InvalidArgumentError(
        "policy snapshot metadata does not describe this learner's policy (start from "
        "BaseMetadata())");
  }
  return Guarded("WritePolicySnapshot", [&]() -> absl::Status {
    SafetensorsFile file;
    file.metadata = PolicyMetadataToStrings(metadata);
    for (NamedArray& t : PolicyTensors()) {
      file.tensors[t.name] = SafetensorsTensor{std::move(t.shape), std::move(t.values)};
    }
    return WriteFileAtomically(path, SerializeSafetensors(file));
  });
}

absl::Status SacLearner::SaveCheckpoint(const std::string& path, absl::string_view extra) {
  return Guarded("SaveCheckpoint", [&]() -> absl::Status {
    CheckpointContents c;
    const Impl& s = *impl_;
    c.strings["format"] = kCheckpointFormat;
    c.strings["sac_config"] = s.config.SerializeAsString();
    c.strings["sac_config_text"] = ConfigToText(s.config);
    c.strings["task"] = s.options.task;
    c.strings["obs_dim"] = absl::StrCat(s.options.obs_dim);
    c.strings["act_dim"] = absl::StrCat(s.options.act_dim);
    c.strings["seed"] = absl::StrCat(s.options.seed);
    c.strings["threads"] = absl::StrCat(s.options.threads);
    c.strings["device"] = s.device.str();
    c.strings["updates"] = absl::StrCat(s.updates);
    c.strings["extra"] = std::string(extra);
    c.arrays["action_low"] = ToArray(torch::tensor(s.options.action_low));
    c.arrays["action_high"] = ToArray(torch::tensor(s.options.action_high));
    for (const auto& [name, t] : s.StateTensors()) c.arrays[name] = ToArray(t);
    c.arrays["rng.train"] = ToArray(s.train_gen.get_state());
    c.arrays["rng.eval"] = ToArray(s.eval_gen.get_state());
    return WriteCheckpointFile(path, c);
  });
}

absl::Status SacLearner::LoadCheckpoint(const std::string& path, std::string* extra) {
  ASSIGN_OR_RETURN(CheckpointContents c, ReadCheckpointFile(path));
  if (c.strings["format"] != kCheckpointFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a learner checkpoint of this format (format '",
                     c.strings["format"], "', expected '", kCheckpointFormat, "')"));
  }
  Impl& s = *impl_;
  v1::SacConfig saved;
  if (!saved.ParseFromString(c.strings["sac_config"])) {
    return absl::DataLossError(absl::StrCat(path, ": unreadable sac_config"));
  }
  // v2's temperature, learned or fixed, decides which tensors the state has.
  auto temperature = [](const v1::SacConfig& config) -> std::string {
    if (config.variant() != "v2") return "";
    return config.learn_temperature() ? " (learned temperature)" : " (fixed temperature)";
  };
  const std::string here = absl::StrCat("variant ", s.config.variant(), temperature(s.config),
                                        ", obs ", s.options.obs_dim, ", act ", s.options.act_dim,
                                        ", hidden [", absl::StrJoin(s.hidden, ","), "]");
  const std::string there = absl::StrCat(
      "variant ", saved.variant(), temperature(saved), ", obs ", c.strings["obs_dim"], ", act ",
      c.strings["act_dim"], ", hidden [", absl::StrJoin(saved.hidden_sizes(), ","), "]");
  if (here != there) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": checkpoint is for ", there, "; this learner is ", here));
  }
  const CheckpointArray low = ToArray(torch::tensor(s.options.action_low));
  const CheckpointArray high = ToArray(torch::tensor(s.options.action_high));
  if (c.arrays["action_low"].bytes != low.bytes || c.arrays["action_high"].bytes != high.bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": checkpoint was trained with other action bounds"));
  }
  if (saved.SerializeAsString() != s.config.SerializeAsString()) {
    SAC_LOG(WARNING) << path << ": the checkpoint's sac config differs from this learner's; "
                     << "continuing with this learner's config: " << ConfigToText(s.config, true);
  }
  if (c.strings["threads"] != absl::StrCat(s.options.threads)) {
    SAC_LOG(WARNING) << path << ": checkpoint written with " << c.strings["threads"]
                     << " threads, this learner uses " << s.options.threads
                     << ": training continues exactly but not bit for bit";
  }
  return Guarded("LoadCheckpoint", [&]() -> absl::Status {
    // Stage every tensor first, so that an error leaves this learner unchanged.
    std::vector<std::pair<Tensor, Tensor>> staged;  // (destination, value)
    auto stage = [&](const std::string& name, const Tensor& dest) -> absl::Status {
      auto it = c.arrays.find(name);
      const std::vector<int64_t> shape(dest.sizes().begin(), dest.sizes().end());
      if (it == c.arrays.end() || it->second.shape != shape) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": checkpoint lacks ", name, " of shape ", ShapeToString(shape)));
      }
      const torch::ScalarType type = it->second.dtype == ArrayDtype::kFloat32 ? torch::kFloat
                                     : it->second.dtype == ArrayDtype::kUint8 ? torch::kByte
                                                                              : torch::kLong;
      if (type != dest.scalar_type()) {
        return absl::FailedPreconditionError(absl::StrCat(path, ": ", name, " has another dtype"));
      }
      Tensor value = torch::empty(shape, torch::TensorOptions().dtype(type));
      std::memcpy(value.data_ptr(), it->second.bytes.data(), it->second.bytes.size());
      staged.emplace_back(dest, value);
      return absl::OkStatus();
    };
    for (const auto& [name, t] : s.StateTensors()) RETURN_IF_ERROR(stage(name, t));
    const Tensor train_state = s.train_gen.get_state();
    const Tensor eval_state = s.eval_gen.get_state();
    auto rng_train = c.arrays.find("rng.train");
    auto rng_eval = c.arrays.find("rng.eval");
    if (rng_train == c.arrays.end() || rng_eval == c.arrays.end() ||
        rng_train->second.bytes.size() != static_cast<size_t>(train_state.nbytes()) ||
        rng_eval->second.bytes.size() != static_cast<size_t>(eval_state.nbytes())) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": checkpoint lacks RNG states"));
    }
    uint64_t updates = 0;
    if (!absl::SimpleAtoi(c.strings["updates"], &updates)) {
      return absl::DataLossError(absl::StrCat(path, ": bad update counter"));
    }
    // Commit.
    torch::NoGradGuard no_grad;
    for (auto& [dest, value] : staged) dest.copy_(value);
    // A fixed temperature is this learner's config's (which wins over the
    // checkpoint's, as for every setting): the state says so too.
    if (!s.learn_alpha) s.log_alpha.fill_(std::log(s.config.initial_temperature()));
    Tensor train_new = torch::empty_like(train_state);
    std::memcpy(train_new.data_ptr(), rng_train->second.bytes.data(), train_new.nbytes());
    Tensor eval_new = torch::empty_like(eval_state);
    std::memcpy(eval_new.data_ptr(), rng_eval->second.bytes.data(), eval_new.nbytes());
    s.train_gen.set_state(train_new);
    s.eval_gen.set_state(eval_new);
    s.updates = updates;
    if (extra != nullptr) *extra = c.strings["extra"];
    return absl::OkStatus();
  });
}

}  // namespace sac::learner

#include "policy/policy_metadata.h"

#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "common/tensor_codec.h"

namespace sac {
namespace {

std::string FloatText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string FloatList(const v1::Tensor& t) {
  auto view = DecodeTensor(t, "bounds", {}, false);
  if (!view.ok()) return "";
  std::vector<std::string> parts;
  for (float v : view->values()) parts.push_back(FloatText(v));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

absl::StatusOr<std::string> Get(const std::map<std::string, std::string>& m,
                                const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) {
    return absl::InvalidArgumentError(absl::StrCat("policy metadata: missing '", key, "'"));
  }
  return it->second;
}

template <typename T>
absl::Status GetNumber(const std::map<std::string, std::string>& m, const std::string& key,
                       T* out) {
  ASSIGN_OR_RETURN(std::string text, Get(m, key));
  bool ok = false;
  if constexpr (std::is_floating_point_v<T>) {
    double d = 0;
    ok = absl::SimpleAtod(text, &d);
    *out = static_cast<T>(d);
  } else {
    ok = absl::SimpleAtoi(text, out);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy metadata: '", key, "' is not a number: '", text, "'"));
  }
  return absl::OkStatus();
}

// A list as "[a,b]" (JSON) or "a,b".
absl::string_view ListBody(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

absl::Status GetFloats(const std::map<std::string, std::string>& m, const std::string& key,
                       size_t expected, v1::Tensor* out) {
  ASSIGN_OR_RETURN(std::string full, Get(m, key));
  const absl::string_view text = ListBody(full);
  std::vector<float> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    double d = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(part), &d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy metadata: '", key, "' has a bad number '", part, "'"));
    }
    values.push_back(static_cast<float>(d));
  }
  if (values.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("policy metadata: '", key, "' has ",
                                                   values.size(), " values, expected ", expected));
  }
  EncodeVector(values, out);
  return absl::OkStatus();
}

// A transform key: absent (older snapshots: the only transform there was) or
// the one value this reader implements.
absl::Status CheckKnown(const std::map<std::string, std::string>& m, const std::string& key,
                        absl::string_view known) {
  auto it = m.find(key);
  if (it == m.end() || it->second == known) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("policy metadata: ", key, " '", it->second,
                                                 "' is not one this reader knows ('", known, "')"));
}

}  // namespace

std::map<std::string, std::string> PolicyMetadataToStrings(const v1::PolicyMetadata& m) {
  std::vector<std::string> hidden;
  for (uint32_t h : m.hidden_sizes()) hidden.push_back(std::to_string(h));
  return {
      {"format", kPolicyFormat},
      {"squash", kPolicySquash},
      {"action_transform", kPolicyActionTransform},
      {"task", m.task()},
      {"obs_dim", std::to_string(m.obs_dim())},
      {"act_dim", std::to_string(m.act_dim())},
      {"action_low", FloatList(m.action_low())},
      {"action_high", FloatList(m.action_high())},
      {"hidden_sizes", absl::StrCat("[", absl::StrJoin(hidden, ","), "]")},
      {"activation", m.activation()},
      {"variant", m.variant()},
      {"version", std::to_string(m.version())},
      {"env_steps", std::to_string(m.env_steps())},
      {"updates", std::to_string(m.updates())},
      {"wall_time_seconds", FloatText(m.wall_time_seconds())},
      {"log_std_min", FloatText(m.log_std_min())},
      {"log_std_max", FloatText(m.log_std_max())},
  };
}

absl::StatusOr<v1::PolicyMetadata> PolicyMetadataFromStrings(
    const std::map<std::string, std::string>& s) {
  ASSIGN_OR_RETURN(std::string format, Get(s, "format"));
  if (format != kPolicyFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy metadata: format '", format, "', expected '", kPolicyFormat, "'"));
  }
  RETURN_IF_ERROR(CheckKnown(s, "squash", kPolicySquash));
  RETURN_IF_ERROR(CheckKnown(s, "action_transform", kPolicyActionTransform));
  v1::PolicyMetadata m;
  ASSIGN_OR_RETURN(*m.mutable_task(), Get(s, "task"));
  uint32_t u32 = 0;
  RETURN_IF_ERROR(GetNumber(s, "obs_dim", &u32));
  m.set_obs_dim(u32);
  RETURN_IF_ERROR(GetNumber(s, "act_dim", &u32));
  m.set_act_dim(u32);
  if (m.obs_dim() == 0 || m.act_dim() == 0 || m.obs_dim() > 1000000 || m.act_dim() > 100000) {
    return absl::InvalidArgumentError("policy metadata: obs_dim/act_dim out of range");
  }
  RETURN_IF_ERROR(GetFloats(s, "action_low", m.act_dim(), m.mutable_action_low()));
  RETURN_IF_ERROR(GetFloats(s, "action_high", m.act_dim(), m.mutable_action_high()));
  ASSIGN_OR_RETURN(std::string hidden, Get(s, "hidden_sizes"));
  for (absl::string_view part : absl::StrSplit(ListBody(hidden), ',', absl::SkipEmpty())) {
    uint32_t h = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &h) || h == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy metadata: 'hidden_sizes' has a bad size '", part, "'"));
    }
    m.add_hidden_sizes(h);
  }
  ASSIGN_OR_RETURN(*m.mutable_activation(), Get(s, "activation"));
  ASSIGN_OR_RETURN(*m.mutable_variant(), Get(s, "variant"));
  uint64_t u64 = 0;
  RETURN_IF_ERROR(GetNumber(s, "version", &u64));
  m.set_version(u64);
  RETURN_IF_ERROR(GetNumber(s, "env_steps", &u64));
  m.set_env_steps(u64);
  RETURN_IF_ERROR(GetNumber(s, "updates", &u64));
  m.set_updates(u64);
  double d = 0;
  RETURN_IF_ERROR(GetNumber(s, "wall_time_seconds", &d));
  m.set_wall_time_seconds(d);
  RETURN_IF_ERROR(GetNumber(s, "log_std_min", &d));
  m.set_log_std_min(d);
  RETURN_IF_ERROR(GetNumber(s, "log_std_max", &d));
  m.set_log_std_max(d);
  return m;
}

}  // namespace sac

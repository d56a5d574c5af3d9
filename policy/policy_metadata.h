// Policy metadata (sac.v1.PolicyMetadata) as the string key/values of a
// safetensors header, the one encoding every writer and reader of policy
// snapshots uses. Keys are the proto field names; numbers are decimal text
// (17 significant digits: exact); lists are JSON arrays ("[256,256]", readers
// also take "256,256"); "format" is "sac-cluster-policy/1".
//
// Two keys name the output transform, which no proto field carries because
// there is one: "squash" = "tanh" (the Gaussian sample u becomes tanh(u)) and
// "action_transform" = "affine_to_bounds" (then a = tanh(u) * (high - low) / 2
// + (high + low) / 2 with low/high = action_low/action_high). Writers always
// write both; readers refuse any other value, and take a file without them
// (older snapshots) as tanh + affine_to_bounds. docs/learner.md says how to
// rebuild the policy from a file.
#ifndef SAC_POLICY_POLICY_METADATA_H_
#define SAC_POLICY_POLICY_METADATA_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "sac/v1/policy.pb.h"

namespace sac {

inline constexpr char kPolicyFormat[] = "sac-cluster-policy/1";
inline constexpr char kPolicySquash[] = "tanh";
inline constexpr char kPolicyActionTransform[] = "affine_to_bounds";

std::map<std::string, std::string> PolicyMetadataToStrings(const v1::PolicyMetadata& metadata);
// Errors name the key that is missing or malformed, or the transform this
// reader does not know.
absl::StatusOr<v1::PolicyMetadata> PolicyMetadataFromStrings(
    const std::map<std::string, std::string>& strings);

}  // namespace sac

#endif  // SAC_POLICY_POLICY_METADATA_H_

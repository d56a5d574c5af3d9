// Policy metadata (sac.v1.PolicyMetadata) as the string key/values of a
// safetensors header, the one encoding every writer and reader of policy
// snapshots uses. Keys are the proto field names; numbers are decimal text
// (17 significant digits: exact); lists are JSON arrays ("[256,256]", readers
// also take "256,256"); "format" is "sac-cluster-policy/1".
#ifndef SAC_POLICY_POLICY_METADATA_H_
#define SAC_POLICY_POLICY_METADATA_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "sac/v1/policy.pb.h"

namespace sac {

inline constexpr char kPolicyFormat[] = "sac-cluster-policy/1";

std::map<std::string, std::string> PolicyMetadataToStrings(const v1::PolicyMetadata& metadata);
// Errors name the key that is missing or malformed.
absl::StatusOr<v1::PolicyMetadata> PolicyMetadataFromStrings(
    const std::map<std::string, std::string>& strings);

}  // namespace sac

#endif  // SAC_POLICY_POLICY_METADATA_H_

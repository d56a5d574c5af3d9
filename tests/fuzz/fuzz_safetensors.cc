// Fuzz target: the safetensors reader (policy/safetensors.h), which reads every
// policy snapshot an actor or sacctl loads, and the policy metadata decoder
// (policy/policy_metadata.h) applied to the file's metadata.
// Input: the file's bytes.
// Properties: a parsed file serializes and parses back to the same tensors
// (bit for bit) and metadata; every tensor's values match its shape; errors are
// INVALID_ARGUMENT.
#include <cstring>

#include "common/tensor_codec.h"
#include "policy/policy_metadata.h"
#include "policy/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using sac::fuzz::Fail;

bool SameTensors(const sac::SafetensorsFile& a, const sac::SafetensorsFile& b) {
  if (a.tensors.size() != b.tensors.size() || a.metadata != b.metadata) return false;
  for (auto ia = a.tensors.begin(), ib = b.tensors.begin(); ia != a.tensors.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.shape != ib->second.shape) return false;
    const auto& va = ia->second.values;
    const auto& vb = ib->second.values;
    if (va.size() != vb.size()) return false;
    if (!va.empty() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto file = sac::ParseSafetensors(bytes);
  if (!file.ok()) {
    if (file.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("error code is not INVALID_ARGUMENT: " + file.status().ToString());
    }
    return 0;
  }
  for (const auto& [name, tensor] : file->tensors) {
    const int64_t n = sac::NumElements(tensor.shape);
    if (n < 0 || static_cast<size_t>(n) != tensor.values.size()) {
      Fail("tensor " + name + ": values do not match the shape");
    }
  }
  const std::string again = sac::SerializeSafetensors(*file);
  auto reparsed = sac::ParseSafetensors(again);
  if (!reparsed.ok()) Fail("serialized file does not parse: " + reparsed.status().ToString());
  if (!SameTensors(*file, *reparsed)) Fail("serialize/parse round trip differs");

  auto metadata = sac::PolicyMetadataFromStrings(file->metadata);
  if (metadata.ok()) {
    auto strings = sac::PolicyMetadataToStrings(*metadata);
    auto back = sac::PolicyMetadataFromStrings(strings);
    if (!back.ok()) Fail("policy metadata does not round-trip: " + back.status().ToString());
    if (back->SerializeAsString() != metadata->SerializeAsString()) {
      Fail("policy metadata round trip differs");
    }
  }
  return 0;
}

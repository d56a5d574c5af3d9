// Reading safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string value>", ...}}
// then the data buffer. Policy snapshots are such files (float32 tensors plus
// string metadata). The reader checks everything a hostile file could get wrong
// (sizes, offsets, overlaps, dtype, JSON syntax) and returns INVALID_ARGUMENT
// naming the problem; it never reads outside the given bytes.
#ifndef SAC_POLICY_SAFETENSORS_H_
#define SAC_POLICY_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac {

struct SafetensorsTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major
};

struct SafetensorsFile {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses a whole file's bytes. Only F32 tensors are accepted (ours are all F32).
absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::string_view bytes);
absl::StatusOr<SafetensorsFile> ReadSafetensorsFile(const std::string& path);
// Only the metadata of the file at `path`: reads its header, not its tensors
// (listing snapshots). Checks the header as ParseSafetensors does except the
// tensor entries.
absl::StatusOr<std::map<std::string, std::string>> ReadSafetensorsMetadata(const std::string& path);

// Serializes tensors and metadata (F32, little-endian), names in sorted order,
// header padded to a multiple of 8 bytes as the reference implementation does.
std::string SerializeSafetensors(const SafetensorsFile& file);

}  // namespace sac

#endif  // SAC_POLICY_SAFETENSORS_H_

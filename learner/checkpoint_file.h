// The learner checkpoint container: named string entries (config, counters) and
// named arrays (network parameters, optimizer moments, RNG states) in one file
// that a reader can trust or reject as a whole. No LibTorch here; the learner
// fills and reads a CheckpointContents.
//
// Layout (all integers little-endian):
//   "SACLCKPT"  8 bytes, magic
//   u32 format version (kCheckpointFormatVersion), u32 zero
//   u64 payload size P
//   P bytes payload
//   u32 CRC-32C of the payload (common/crc32c.h), "SACLEND1" 8 bytes
// Payload: u32 count of strings, then per string: u32 key length, key, u64 value
// length, value; u32 count of arrays, then per array: u32 name length, name,
// u8 dtype (0 float32, 1 uint8, 2 int64), u32 rank, rank x i64 dims, u64 byte
// length, bytes.
// A file with another magic is "foreign" (INVALID_ARGUMENT); a short file, a
// size or checksum mismatch is "torn or corrupt" (DATA_LOSS). Both messages
// name the path.
#ifndef SAC_LEARNER_CHECKPOINT_FILE_H_
#define SAC_LEARNER_CHECKPOINT_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac::learner {

inline constexpr uint32_t kCheckpointFormatVersion = 1;

enum class ArrayDtype : uint8_t { kFloat32 = 0, kUint8 = 1, kInt64 = 2 };

// Size in bytes of one element of `dtype`.
int64_t DtypeSize(ArrayDtype dtype);

struct CheckpointArray {
  ArrayDtype dtype = ArrayDtype::kFloat32;
  std::vector<int64_t> shape;
  std::string bytes;  // row-major, little-endian, product(shape) * DtypeSize
};

struct CheckpointContents {
  std::map<std::string, std::string> strings;
  std::map<std::string, CheckpointArray> arrays;
};

// The file image of `contents` (the layout above).
std::string EncodeCheckpoint(const CheckpointContents& contents);
// Parses a file image; `source` names it in errors.
absl::StatusOr<CheckpointContents> DecodeCheckpoint(absl::string_view image,
                                                    absl::string_view source);

// Encodes and writes atomically (temporary name, fsync, rename, folder fsync).
absl::Status WriteCheckpointFile(const std::string& path, const CheckpointContents& contents);
absl::StatusOr<CheckpointContents> ReadCheckpointFile(const std::string& path);

}  // namespace sac::learner

#endif  // SAC_LEARNER_CHECKPOINT_FILE_H_

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the one checksum of
// our files: the replay shard's log records and snapshots, learner
// checkpoints, and (masked) the TensorBoard event records.
#ifndef SAC_COMMON_CRC32C_H_
#define SAC_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace sac {

// Extends `crc` (0 to start) over `n` bytes at `data`.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

// CRC-32C of `data`.
inline uint32_t Crc32c(absl::string_view data) { return Crc32c(0, data.data(), data.size()); }

}  // namespace sac

#endif  // SAC_COMMON_CRC32C_H_

// CRC-32C (Castagnoli), the checksum of log records and snapshots.
#ifndef SAC_REPLAY_SERVER_CRC32C_H_
#define SAC_REPLAY_SERVER_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace sac::replay {

// Extends `crc` (0 to start) over `n` bytes at `data`.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_CRC32C_H_

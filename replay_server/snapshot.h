// Snapshots of a shard's table: `snapshot-<20 digits>.snap` in the data folder,
// the number being the first write-ahead log segment to replay on top of it.
// Written to a temporary name, fsynced, renamed, and the folder fsynced, so a
// crash leaves either the old or the new snapshot, never a half one.
//
// File: "SACSNAP1" | u32 header length | ReplaySnapshotHeader | columns (obs,
// action, reward, next_obs, terminated, truncated, policy_version, actor_id, key;
// `size` rows each, little-endian) | u32 crc32c of everything from the header
// length to the end of the columns | "SNAPEND1".
#ifndef SAC_REPLAY_SERVER_SNAPSHOT_H_
#define SAC_REPLAY_SERVER_SNAPSHOT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "replay_server/file_system.h"
#include "replay_server/table.h"

namespace sac::replay {

std::string SnapshotFileName(uint64_t wal_segment);
// The number in a name made by SnapshotFileName, or -1 (temporary files too).
int64_t ParseSnapshotFileName(absl::string_view name);

// Writes `contents` as the snapshot for `wal_segment` into `dir`; returns its path.
absl::StatusOr<std::string> WriteSnapshot(FileSystem* fs, const std::string& dir,
                                          const TableContents& contents, uint64_t wal_segment);

// Reads and verifies a snapshot file. DATA_LOSS when it is truncated or its
// checksum does not match.
absl::StatusOr<TableContents> ReadSnapshot(FileSystem* fs, const std::string& path,
                                           uint64_t* wal_segment);

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_SNAPSHOT_H_

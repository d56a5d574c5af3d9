// The file system as the shard's durability code sees it (LevelDB's Env idea):
// a small interface so tests inject faults (a failing write or sync, a crash
// that keeps only part of what was written) without touching real disks.
// PosixFileSystem is the real one.
#ifndef SAC_REPLAY_SERVER_FILE_SYSTEM_H_
#define SAC_REPLAY_SERVER_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac::replay {

// A file open for appending. Not thread-safe (one writer).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes what was appended durable (fsync).
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates (or truncates) `path`.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual absl::Status CreateDir(const std::string& dir) = 0;  // with parents; OK if it exists
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Delete(const std::string& path) = 0;
  virtual absl::Status Truncate(const std::string& path, uint64_t size) = 0;
  // fsync of a directory, making renames and creations in it durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
};

// The process-wide POSIX file system (never deleted).
FileSystem* PosixFileSystem();

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_FILE_SYSTEM_H_

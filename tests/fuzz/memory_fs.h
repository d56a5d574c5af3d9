// An in-memory FileSystem (replay_server/file_system.h) for the fuzz targets:
// the shard's recovery and the snapshot reader run against files whose bytes
// come from the fuzzer, without touching the disk. Paths are plain strings; a
// folder is any prefix ending in '/'. Not thread-safe beyond one mutex around
// the map (the shard's log writer thread writes while the fuzzer reads).
#ifndef SAC_TESTS_FUZZ_MEMORY_FS_H_
#define SAC_TESTS_FUZZ_MEMORY_FS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "replay_server/file_system.h"

namespace sac::fuzz {

class MemoryFileSystem final : public replay::FileSystem {
 public:
  void Put(const std::string& path, std::string bytes) {
    absl::MutexLock lock(&mu_);
    files_[path] = std::move(bytes);
  }
  bool Exists(const std::string& path) {
    absl::MutexLock lock(&mu_);
    return files_.count(path) > 0;
  }

  absl::StatusOr<std::unique_ptr<replay::WritableFile>> NewWritableFile(
      const std::string& path) override {
    absl::MutexLock lock(&mu_);
    files_[path].clear();
    return std::unique_ptr<replay::WritableFile>(new File(this, path));
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return it->second;
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    const std::string prefix = dir + "/";
    std::vector<std::string> names;
    for (const auto& [path, bytes] : files_) {
      if (absl::StartsWith(path, prefix) && path.find('/', prefix.size()) == std::string::npos) {
        names.push_back(path.substr(prefix.size()));
      }
    }
    return names;
  }
  absl::Status CreateDir(const std::string& dir) override { return absl::OkStatus(); }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(from);
    if (it == files_.end()) return absl::NotFoundError(absl::StrCat(from, ": no such file"));
    std::string bytes = std::move(it->second);
    files_.erase(it);
    files_[to] = std::move(bytes);
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    if (files_.erase(path) == 0) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::OkStatus();
  }
  absl::Status Truncate(const std::string& path, uint64_t size) override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    if (size < it->second.size()) it->second.resize(size);
    return absl::OkStatus();
  }
  absl::Status SyncDir(const std::string& dir) override { return absl::OkStatus(); }

 private:
  class File final : public replay::WritableFile {
   public:
    File(MemoryFileSystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
    absl::Status Append(absl::string_view data) override {
      absl::MutexLock lock(&fs_->mu_);
      fs_->files_[path_].append(data.data(), data.size());
      return absl::OkStatus();
    }
    absl::Status Sync() override { return absl::OkStatus(); }
    absl::Status Close() override { return absl::OkStatus(); }

   private:
    MemoryFileSystem* const fs_;
    const std::string path_;
  };

  absl::Mutex mu_;
  std::map<std::string, std::string> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sac::fuzz

#endif  // SAC_TESTS_FUZZ_MEMORY_FS_H_

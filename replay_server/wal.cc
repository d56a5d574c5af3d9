#include "replay_server/wal.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"

namespace sac::replay {

absl::StatusOr<FsyncPolicy> ParseFsyncPolicy(absl::string_view name) {
  if (name == "always") return FsyncPolicy::kAlways;
  if (name == "batch") return FsyncPolicy::kBatch;
  if (name == "none") return FsyncPolicy::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("durability.fsync: '", name, "', expected always, batch or none"));
}

std::string SegmentFileName(uint64_t segment) { return absl::StrFormat("wal-%020d.log", segment); }

int64_t ParseSegmentFileName(absl::string_view name) {
  if (name.size() != 28 || name.substr(0, 4) != "wal-" || name.substr(24) != ".log") return -1;
  uint64_t n = 0;
  if (!absl::SimpleAtoi(name.substr(4, 20), &n)) return -1;
  return static_cast<int64_t>(n);
}

std::string FrameRecord(absl::string_view body) {
  std::string out(8 + body.size(), '\0');
  const uint32_t len = static_cast<uint32_t>(body.size());
  std::memcpy(out.data(), &len, 4);
  uint32_t crc = Crc32c(0, &len, 4);
  crc = Crc32c(crc, body.data(), body.size());
  std::memcpy(out.data() + 4, &crc, 4);
  std::memcpy(out.data() + 8, body.data(), body.size());
  return out;
}

absl::StatusOr<std::unique_ptr<WriteAheadLog>> WriteAheadLog::Open(FileSystem* fs, std::string dir,
                                                                   const WalOptions& options,
                                                                   uint64_t segment) {
  auto file = fs->NewWritableFile(absl::StrCat(dir, "/", SegmentFileName(segment)));
  if (!file.ok()) return file.status();
  // The new file's name must survive a crash before the first record's sync.
  absl::Status s = fs->SyncDir(dir);
  if (!s.ok()) return s;
  return std::unique_ptr<WriteAheadLog>(
      new WriteAheadLog(fs, std::move(dir), options, segment, std::move(*file)));
}

WriteAheadLog::WriteAheadLog(FileSystem* fs, std::string dir, const WalOptions& options,
                             uint64_t segment, std::unique_ptr<WritableFile> file)
    : fs_(fs),
      dir_(std::move(dir)),
      options_(options),
      file_(std::move(file)),
      segment_(segment),
      opened_segment_(segment) {
  thread_ = std::thread([this] { Loop(); });
}

WriteAheadLog::~WriteAheadLog() { Close().IgnoreError(); }

void WriteAheadLog::Append(std::string body, Callback done) {
  absl::Status fail;
  {
    absl::MutexLock lock(&mu_);
    if (closing_) {
      fail = absl::UnavailableError("write-ahead log is closed");
    } else if (!error_.ok()) {
      fail = error_;
    } else {
      queued_bytes_ += body.size() + 8;
      queue_.push_back(Entry{std::move(body), 0, std::move(done), absl::Now()});
      return;
    }
  }
  done(fail);
}

uint64_t WriteAheadLog::Roll() {
  absl::MutexLock lock(&mu_);
  segment_ += 1;
  queue_.push_back(Entry{std::string(), segment_, nullptr, absl::Now()});
  return segment_;
}

uint64_t WriteAheadLog::current_segment() const {
  absl::MutexLock lock(&mu_);
  return segment_;
}

absl::Status WriteAheadLog::OpenSegment(uint64_t segment) {
  absl::Status s;
  if (options_.fsync != FsyncPolicy::kNone) s = file_->Sync();
  absl::Status c = file_->Close();
  if (s.ok()) s = c;
  if (!s.ok()) return s;
  auto file = fs_->NewWritableFile(absl::StrCat(dir_, "/", SegmentFileName(segment)));
  if (!file.ok()) return file.status();
  file_ = std::move(*file);
  return fs_->SyncDir(dir_);
}

void WriteAheadLog::Loop() {
  for (;;) {
    std::deque<Entry> group;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || closing_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) break;  // closing and drained
      if (options_.fsync != FsyncPolicy::kNone && options_.group_commit > absl::ZeroDuration()) {
        // Wait for company: the fsync is shared by every record of the group.
        const absl::Time until = queue_.front().queued + options_.group_commit;
        auto full = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return closing_ || queued_bytes_ >= options_.max_group_bytes;
        };
        mu_.AwaitWithDeadline(absl::Condition(&full), until);
      }
      group.swap(queue_);
      queued_bytes_ = 0;
    }
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = error_;
    }
    std::string buffer;
    size_t records = 0;
    auto flush = [&]() {
      if (!status.ok() || buffer.empty()) return;
      status = file_->Append(buffer);
      bytes_.fetch_add(buffer.size(), std::memory_order_relaxed);
      buffer.clear();
    };
    // Entries whose callbacks see `status` once the group is committed.
    std::vector<Callback> done;
    std::vector<std::pair<Callback, absl::Status>> done_early;
    for (Entry& e : group) {
      if (e.roll_to > 0) {
        flush();
        if (status.ok()) status = OpenSegment(e.roll_to);
        absl::MutexLock lock(&mu_);
        if (!status.ok() && error_.ok()) error_ = status;
        opened_segment_ = e.roll_to;
        continue;
      }
      buffer += FrameRecord(e.body);
      ++records;
      if (options_.fsync == FsyncPolicy::kAlways) {
        flush();
        if (status.ok()) status = file_->Sync();
        commits_.fetch_add(1, std::memory_order_relaxed);
        done_early.emplace_back(std::move(e.done), status);
      } else {
        done.push_back(std::move(e.done));
      }
    }
    flush();
    if (status.ok() && options_.fsync == FsyncPolicy::kBatch && !done.empty()) {
      status = file_->Sync();
    }
    if (!done.empty()) commits_.fetch_add(1, std::memory_order_relaxed);
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      if (error_.ok()) error_ = status;
    }
    for (auto& [cb, s] : done_early) {
      if (cb) cb(s);
    }
    for (Callback& cb : done) {
      if (cb) cb(status);
    }
  }
}

absl::Status WriteAheadLog::AwaitSegment(uint64_t segment) {
  absl::MutexLock lock(&mu_);
  auto ready = [this, segment]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return opened_segment_ >= segment || !error_.ok() || closed_;
  };
  mu_.Await(absl::Condition(&ready));
  if (!error_.ok()) return error_;
  if (opened_segment_ < segment) return absl::UnavailableError("write-ahead log is closed");
  return absl::OkStatus();
}

absl::Status WriteAheadLog::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return error_;
    closing_ = true;
  }
  thread_.join();
  absl::Status s;
  if (options_.fsync != FsyncPolicy::kNone) s = file_->Sync();
  absl::Status c = file_->Close();
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (error_.ok() && !s.ok()) error_ = s;
  if (error_.ok() && !c.ok()) error_ = c;
  return error_;
}

absl::StatusOr<SegmentReadResult> ReadSegment(
    FileSystem* fs, const std::string& path,
    const std::function<absl::Status(const std::string& body)>& fn) {
  auto data = fs->ReadFile(path);
  if (!data.ok()) return data.status();
  SegmentReadResult r;
  r.file_bytes = data->size();
  size_t pos = 0;
  std::string body;
  while (data->size() - pos >= 8) {
    uint32_t len = 0, crc = 0;
    std::memcpy(&len, data->data() + pos, 4);
    std::memcpy(&crc, data->data() + pos + 4, 4);
    if (data->size() - pos - 8 < len) break;  // torn: the body did not make it
    uint32_t want = Crc32c(0, &len, 4);
    want = Crc32c(want, data->data() + pos + 8, len);
    if (want != crc) break;  // torn or corrupt
    body.assign(data->data() + pos + 8, len);
    absl::Status s = fn(body);
    if (!s.ok()) return s;
    pos += 8 + len;
    ++r.records;
  }
  r.valid_bytes = pos;
  return r;
}

}  // namespace sac::replay

#include "learner/event_file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/files.h"
#include "common/logging.h"

namespace sac::learner {
namespace {

// Protobuf wire format: a field's key is (number << 3) | wire type.
constexpr uint8_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;
constexpr uint8_t Key(int field, uint8_t wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}
// tensorboard.Event
constexpr int kEventWallTime = 1;     // double
constexpr int kEventStep = 2;         // int64
constexpr int kEventFileVersion = 3;  // string
constexpr int kEventSummary = 5;      // Summary
// tensorboard.Summary and Summary.Value
constexpr int kSummaryValue = 1;      // repeated Value
constexpr int kValueTag = 1;          // string
constexpr int kValueSimpleValue = 2;  // float
constexpr char kFileVersion[] = "brain.Event:2";

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

template <typename T>
void PutLittleEndian(std::string* out, T v) {
  static_assert(std::endian::native == std::endian::little, "event files are little-endian");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out->append(bytes, sizeof(T));
}

void PutLengthDelimited(std::string* out, int field, absl::string_view bytes) {
  out->push_back(static_cast<char>(Key(field, kLengthDelimited)));
  PutVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// The fields every event starts with; a zero step is left out, as proto3 does.
std::string EventHead(double wall_time, int64_t step) {
  std::string event;
  event.push_back(static_cast<char>(Key(kEventWallTime, kFixed64)));
  PutLittleEndian<double>(&event, wall_time);
  if (step != 0) {
    event.push_back(static_cast<char>(Key(kEventStep, kVarint)));
    PutVarint(&event, static_cast<uint64_t>(step));  // two's complement, as int64 is
  }
  return event;
}

double Now() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

std::string HostName() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

// Files opened by this process: the <n> of the default names.
std::atomic<uint64_t> process_files{0};

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t MaskedCrc32c(absl::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string FrameRecord(absl::string_view payload) {
  std::string length;
  PutLittleEndian<uint64_t>(&length, payload.size());
  std::string record = length;
  record.reserve(8 + 4 + payload.size() + 4);
  PutLittleEndian<uint32_t>(&record, MaskedCrc32c(length));
  record.append(payload.data(), payload.size());
  PutLittleEndian<uint32_t>(&record, MaskedCrc32c(payload));
  return record;
}

std::string EncodeFileVersionEvent(double wall_time) {
  std::string event = EventHead(wall_time, 0);
  PutLengthDelimited(&event, kEventFileVersion, kFileVersion);
  return event;
}

std::string EncodeScalarsEvent(double wall_time, int64_t step, absl::Span<const Scalar> scalars) {
  std::string summary;
  for (const Scalar& s : scalars) {
    std::string value;
    PutLengthDelimited(&value, kValueTag, s.tag);
    value.push_back(static_cast<char>(Key(kValueSimpleValue, kFixed32)));
    PutLittleEndian<float>(&value, s.value);
    PutLengthDelimited(&summary, kSummaryValue, value);
  }
  std::string event = EventHead(wall_time, step);
  PutLengthDelimited(&event, kEventSummary, summary);
  return event;
}

EventFileWriter::EventFileWriter(EventFileOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

EventFileWriter::~EventFileWriter() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void EventFileWriter::AddScalars(int64_t step, absl::Span<const Scalar> scalars, double wall_time) {
  std::string record =
      FrameRecord(EncodeScalarsEvent(std::isnan(wall_time) ? Now() : wall_time, step, scalars));
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= options_.max_queued_events) {
    ++dropped_;
    if (options_.dropped_total) options_.dropped_total->Increment();
    return;
  }
  queue_.push_back(std::move(record));
  ++queued_seq_;
}

bool EventFileWriter::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const uint64_t target = queued_seq_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_seq_ >= target; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

uint64_t EventFileWriter::events_written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

uint64_t EventFileWriter::events_dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

uint64_t EventFileWriter::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

size_t EventFileWriter::queued_events() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

std::vector<std::string> EventFileWriter::files() const {
  absl::MutexLock lock(&mu_);
  return files_;
}

std::string EventFileWriter::NextFileName() {
  const int k = files_opened_++;
  if (!options_.file_name.empty()) {
    return k == 0 ? options_.file_name : absl::StrCat(options_.file_name, ".", k);
  }
  return absl::StrCat("events.out.tfevents.", absl::ToUnixSeconds(absl::Now()), ".", HostName(),
                      ".", getpid(), ".", process_files.fetch_add(1));
}

absl::Status EventFileWriter::WriteRecords(const std::vector<std::string>& records) {
  std::string bytes;
  if (fd_ < 0) {
    const std::string path = options_.dir + "/" + NextFileName();
    {
      absl::MutexLock lock(&mu_);
      files_.push_back(path);
    }
    if (absl::Status made = MakeDirs(options_.dir); !made.ok()) return made;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
    }
    bytes = FrameRecord(EncodeFileVersionEvent(Now()));
  }
  for (const std::string& r : records) bytes += r;
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    path = files_.back();
  }
  absl::Status written = WriteAll(fd_, bytes, path);
  if (!written.ok()) {
    ::close(fd_);
    fd_ = -1;
  }
  return written;
}

void EventFileWriter::CountError(const absl::Status& error, size_t lost_events) {
  const absl::Time now = absl::Now();
  if (now - last_error_log_ >= kErrorLogInterval) {
    SAC_LOG(WARNING) << "TensorBoard events: " << error.message() << "; " << lost_events
                     << " event(s) dropped, training goes on"
                     << (errors_since_log_ > 0
                             ? absl::StrCat(" (", errors_since_log_,
                                            " more error(s) since the last such line)")
                             : std::string());
    last_error_log_ = now;
    errors_since_log_ = 0;
  } else {
    ++errors_since_log_;
  }
  if (options_.errors_total) options_.errors_total->Increment();
  if (options_.dropped_total) options_.dropped_total->Increment(static_cast<double>(lost_events));
  absl::MutexLock lock(&mu_);
  ++errors_;
  dropped_ += lost_events;
}

void EventFileWriter::Loop() {
  while (true) {
    std::vector<std::string> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stop_, and everything written
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    const absl::Status s = WriteRecords(batch);
    if (!s.ok()) CountError(s, batch.size());
    absl::MutexLock lock(&mu_);
    if (s.ok()) written_ += batch.size();
    done_seq_ += batch.size();
  }
}

}  // namespace sac::learner

// EventFileWriter: TensorBoard event files written by our own code, no
// TensorFlow. The learner's trainer and evaluator add scalars; a thread owned
// by the writer appends them to `<dir>/events.out.tfevents.<unix seconds>.
// <host>.<pid>.<n>`, which `tensorboard --logdir` reads while it grows.
//
// The file (what tensorboard's reader checks; tensorboard/compat/proto/
// event.proto and summary.proto of the pinned wheel are the schema):
//  - records in TFRecord framing: u64 payload length (little-endian), u32
//    masked CRC-32C of those 8 bytes, the payload, u32 masked CRC-32C of the
//    payload; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8.
//  - each payload one serialized `tensorboard.Event`: first one with
//    `file_version: "brain.Event:2"`, then one per AddScalars call with
//    `wall_time` (Unix seconds), `step` and a `Summary` of `simple_value`
//    entries. The few fields are encoded by hand (field numbers in the .cc):
//    the wheel ships generated Python only, no .proto files to compile.
//
// It never blocks or fails its callers: AddScalars only queues (bounded:
// beyond `max_queued_events` an event is dropped and counted). An I/O error
// drops the events being written (counted), is logged at most once per
// kErrorLogInterval (with the count since the last line), and the next batch
// goes to a new file: a reader stops at a torn record, so appending after one
// would hide everything behind it. The destructor writes what is queued and
// joins the thread (it waits for a write that hangs in the kernel).
//
// Thread-safety: every method may be called from any thread.
#ifndef SAC_LEARNER_EVENT_FILE_WRITER_H_
#define SAC_LEARNER_EVENT_FILE_WRITER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/metrics.h"

namespace sac::learner {

// One scalar of an event: a TensorBoard tag ("loss/q1") and its value.
struct Scalar {
  std::string tag;
  float value = 0;
};

// The TFRecord checksum: CRC-32C of `data`, rotated right by 15 bits, plus
// 0xa282ead8.
uint32_t MaskedCrc32c(absl::string_view data);
// `payload` in TFRecord framing (above).
std::string FrameRecord(absl::string_view payload);
// A serialized tensorboard.Event: the file header / one event of scalars.
std::string EncodeFileVersionEvent(double wall_time);
std::string EncodeScalarsEvent(double wall_time, int64_t step, absl::Span<const Scalar> scalars);

struct EventFileOptions {
  std::string dir;  // made (with parents) when the first file opens
  // Name of the first file; empty: events.out.tfevents.<unix seconds>.<host>.
  // <pid>.<n>, TensorBoard's own pattern (n counts files of this process). A
  // later file (after an I/O error) is `<file_name>.<k>`. Tests name the file
  // to put a fault there (a link to /dev/full, a FIFO without a reader).
  std::string file_name;
  // Events waiting for the writer thread beyond which AddScalars drops.
  size_t max_queued_events = 10000;
  // Incremented per failed open or write / per event dropped (queue full or
  // lost in a failed write); both may be null. Not owned.
  Counter* errors_total = nullptr;
  Counter* dropped_total = nullptr;
};

class EventFileWriter {
 public:
  // Lines about I/O errors are at most this frequent.
  static constexpr absl::Duration kErrorLogInterval = absl::Seconds(60);

  // Starts the writer thread; files open on the first write.
  explicit EventFileWriter(EventFileOptions options);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // Queues one event: `scalars` at `step`, stamped with `wall_time` (Unix
  // seconds; NaN: now). Returns at once.
  void AddScalars(int64_t step, absl::Span<const Scalar> scalars,
                  double wall_time = std::numeric_limits<double>::quiet_NaN())
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until every event queued before the call is written or dropped;
  // false on timeout.
  bool Flush(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t events_written() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t events_dropped() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t errors() const ABSL_LOCKS_EXCLUDED(mu_);
  // Events queued and not yet taken by the writer thread.
  size_t queued_events() const ABSL_LOCKS_EXCLUDED(mu_);
  // Paths of the files this writer has tried to open (the last one failed
  // when errors() counted an open error), oldest first.
  std::vector<std::string> files() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();
  // Writes `records` (framed) to the current file, opening one first if none
  // is open; on error closes it and returns the message. Writer thread only.
  absl::Status WriteRecords(const std::vector<std::string>& records);
  std::string NextFileName();
  void CountError(const absl::Status& error, size_t lost_events) ABSL_LOCKS_EXCLUDED(mu_);

  const EventFileOptions options_;
  std::thread thread_;
  int fd_ = -1;                                       // writer thread only
  int files_opened_ = 0;                              // writer thread only
  absl::Time last_error_log_ = absl::InfinitePast();  // writer thread only
  uint64_t errors_since_log_ = 0;                     // writer thread only

  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);  // framed records
  uint64_t queued_seq_ ABSL_GUARDED_BY(mu_) = 0;        // events accepted so far
  uint64_t done_seq_ ABSL_GUARDED_BY(mu_) = 0;          // of those, written or dropped
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> files_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_EVENT_FILE_WRITER_H_

// Durable file writes and whole-file reads for the learner's checkpoints and
// policy snapshots. No LibTorch here.
#ifndef SAC_LEARNER_FILE_IO_H_
#define SAC_LEARNER_FILE_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac::learner {

// Writes `contents` to `path` so that a reader sees either the old file or the
// whole new one: writes `path` + ".tmp.<pid>", fsyncs it, renames it over
// `path`, then fsyncs the folder. On error the temporary file is removed and
// the old `path` is untouched. Thread-compatible (distinct paths only).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The whole file, or NOT_FOUND / an error naming the path.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace sac::learner

#endif  // SAC_LEARNER_FILE_IO_H_

// Small file-system helpers shared by the processes.
#ifndef SAC_COMMON_FILES_H_
#define SAC_COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac {

// Creates `path` and its missing parents (mode 0755); OK when it exists.
absl::Status MakeDirs(const std::string& path);

// Writes `contents` to `path` so that a reader sees either the old file or the
// whole new one: writes `path` + ".tmp.<pid>", fsyncs it, renames it over
// `path`, then fsyncs the folder. On error the temporary file is removed and
// the old `path` is untouched. Thread-compatible (distinct paths only).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The whole file, or NOT_FOUND / PERMISSION_DENIED / INTERNAL with the message
// "cannot read '<path>': <reason>" (callers prefix what the file is for).
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace sac

#endif  // SAC_COMMON_FILES_H_

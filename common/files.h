// Small file-system helpers shared by the processes.
#ifndef SAC_COMMON_FILES_H_
#define SAC_COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"

namespace sac {

// Creates `path` and its missing parents (mode 0755); OK when it exists.
absl::Status MakeDirs(const std::string& path);

}  // namespace sac

#endif  // SAC_COMMON_FILES_H_

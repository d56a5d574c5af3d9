#include "envs/models_dir.h"

#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sac::envs {

absl::StatusOr<std::string> DefaultModelsDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot read /proc/self/exe: ", ec.message()));
  }
  return (exe.parent_path() / ".." / "share" / "sac" / "models").lexically_normal().string();
}

absl::StatusOr<std::string> ResolveModelsDir(absl::string_view flag_value) {
  std::string dir;
  if (!flag_value.empty()) {
    dir = std::string(flag_value);
  } else {
    absl::StatusOr<std::string> def = DefaultModelsDir();
    if (!def.ok()) return def.status();
    dir = *def;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "models dir '", dir, "' does not exist",
        flag_value.empty() ? " (the default beside the executable; set --models_dir)" : ""));
  }
  return dir;
}

}  // namespace sac::envs

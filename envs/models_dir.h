// Where the MJCF model files are found. The build copies Gymnasium's model files
// (and its LICENSE) into <build>/share/sac/models; binaries live in <build>/bin
// and test binaries in <build>/tests, so the default is <dir of the running
// executable>/../share/sac/models (the same layout after `cmake --install`).
#ifndef SAC_ENVS_MODELS_DIR_H_
#define SAC_ENVS_MODELS_DIR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac::envs {

// <dirname(/proc/self/exe)>/../share/sac/models, normalized; an error if the
// executable's path cannot be read.
absl::StatusOr<std::string> DefaultModelsDir();

// `flag_value` when non-empty (--models_dir / EnvConfig.models_dir), else
// DefaultModelsDir(). Checks that the result is an existing directory.
absl::StatusOr<std::string> ResolveModelsDir(absl::string_view flag_value);

}  // namespace sac::envs

#endif  // SAC_ENVS_MODELS_DIR_H_

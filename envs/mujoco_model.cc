#include "envs/mujoco_model.h"

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"

namespace sac::envs {
namespace {
ABSL_CONST_INIT absl::Mutex load_mutex(absl::kConstInit);

// MuJoCo's default warning handler prints to stdout and appends to
// MUJOCO_LOG.TXT in the working directory; ours goes to the process log.
void LogMujocoWarning(const char* message) { SAC_LOG(WARNING) << "MuJoCo: " << message; }
}  // namespace

absl::StatusOr<MjModelPtr> LoadModel(const std::string& path) {
  char error[1024] = {0};
  mjModel* model = nullptr;
  {
    absl::MutexLock lock(&load_mutex);
    mju_user_warning = LogMujocoWarning;
    model = mj_loadXML(path.c_str(), nullptr, error, sizeof(error));
  }
  if (model == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load MuJoCo model '", path, "': ", error));
  }
  return MjModelPtr(model);
}

absl::StatusOr<MjDataPtr> MakeData(const mjModel* model) {
  mjData* data = mj_makeData(model);
  if (data == nullptr) return absl::ResourceExhaustedError("mj_makeData failed");
  return MjDataPtr(data);
}

std::string MujocoVersion() { return mj_versionString(); }

}  // namespace sac::envs

// RAII ownership of MuJoCo's C objects (mjModel, mjData) and model loading.
// Internal to envs/: includes MuJoCo headers, so only envs/ sources include it.
#ifndef SAC_ENVS_MUJOCO_MODEL_H_
#define SAC_ENVS_MUJOCO_MODEL_H_

#include <mujoco/mujoco.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac::envs {

struct MjModelDeleter {
  void operator()(mjModel* m) const { mj_deleteModel(m); }
};
struct MjDataDeleter {
  void operator()(mjData* d) const { mj_deleteData(d); }
};
using MjModelPtr = std::unique_ptr<mjModel, MjModelDeleter>;
using MjDataPtr = std::unique_ptr<mjData, MjDataDeleter>;

// Loads an MJCF file with mj_loadXML. Thread-safe (loads are serialized: the XML
// compiler keeps global state). The parser's message becomes the error.
absl::StatusOr<MjModelPtr> LoadModel(const std::string& path);

// mj_makeData for `model`; an error when MuJoCo cannot allocate it.
absl::StatusOr<MjDataPtr> MakeData(const mjModel* model);

// "4.0.0": the version of the linked MuJoCo library.
std::string MujocoVersion();

}  // namespace sac::envs

#endif  // SAC_ENVS_MUJOCO_MODEL_H_

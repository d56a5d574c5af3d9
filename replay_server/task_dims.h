// Observation and action sizes of the nine Gymnasium MuJoCo v5 tasks, so that a
// shard can be configured with `--task` alone. Used by sac-replay's config
// finalization and by the replay benchmark.
#ifndef SAC_REPLAY_SERVER_TASK_DIMS_H_
#define SAC_REPLAY_SERVER_TASK_DIMS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac::replay {

struct TaskDims {
  uint32_t obs_dim = 0;
  uint32_t act_dim = 0;
};

// Sizes of `task` ("HalfCheetah-v5"; the "-v5" suffix is optional).
// NOT_FOUND naming the task and the known ones otherwise.
absl::StatusOr<TaskDims> DimsOfTask(absl::string_view task);

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_TASK_DIMS_H_

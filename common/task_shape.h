// The shape of each task: what a process outside envs/ needs to know about it
// (sizes, action bounds, frame skip, step length, time limit), without MuJoCo.
// This table is the one home of those facts: the envs registry
// (envs/tasks.cc) builds its specs from it and checks every loaded model
// against it, sac-replay sizes its rows from it (`--task`), and the learner
// takes its network sizes and action bounds from it. envs/task_shape_test.cc
// checks each entry against the compiled MuJoCo model.
//
// Values are Gymnasium 1.4.0's v5 defaults (reference/mujoco/TASKS.md).
#ifndef SAC_COMMON_TASK_SHAPE_H_
#define SAC_COMMON_TASK_SHAPE_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sac {

struct TaskShape {
  std::string_view name;  // Gymnasium id, e.g. "HalfCheetah-v5"
  int obs_dim = 0;        // observation values (float32)
  int act_dim = 0;        // action values (float32) = the model's actuators
  // Bounds of every action component: the actuators' ctrlrange as float32
  // (Gymnasium's action Box). The same for all components of each task here.
  float action_low = 0;
  float action_high = 0;
  int frame_skip = 1;            // physics steps per env step
  double dt = 0;                 // seconds per env step: the model's timestep x frame_skip
  int max_episode_steps = 1000;  // Gymnasium's TimeLimit: steps before `truncated`

  std::vector<float> ActionLow() const { return std::vector<float>(act_dim, action_low); }
  std::vector<float> ActionHigh() const { return std::vector<float>(act_dim, action_high); }
};

// The nine tasks, in DESIGN.md's order.
inline constexpr TaskShape kTaskShapes[] = {
    {.name = "HalfCheetah-v5",
     .obs_dim = 17,
     .act_dim = 6,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 5,
     .dt = 0.05,
     .max_episode_steps = 1000},
    {.name = "Hopper-v5",
     .obs_dim = 11,
     .act_dim = 3,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 4,
     .dt = 0.008,
     .max_episode_steps = 1000},
    {.name = "Walker2d-v5",
     .obs_dim = 17,
     .act_dim = 6,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 4,
     .dt = 0.008,
     .max_episode_steps = 1000},
    {.name = "Ant-v5",
     .obs_dim = 105,
     .act_dim = 8,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 5,
     .dt = 0.05,
     .max_episode_steps = 1000},
    {.name = "Humanoid-v5",
     .obs_dim = 348,
     .act_dim = 17,
     .action_low = -0.4f,
     .action_high = 0.4f,
     .frame_skip = 5,
     .dt = 0.015,
     .max_episode_steps = 1000},
    {.name = "InvertedPendulum-v5",
     .obs_dim = 4,
     .act_dim = 1,
     .action_low = -3,
     .action_high = 3,
     .frame_skip = 2,
     .dt = 0.04,
     .max_episode_steps = 1000},
    {.name = "InvertedDoublePendulum-v5",
     .obs_dim = 9,
     .act_dim = 1,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 5,
     .dt = 0.05,
     .max_episode_steps = 1000},
    {.name = "Swimmer-v5",
     .obs_dim = 8,
     .act_dim = 2,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 4,
     .dt = 0.04,
     .max_episode_steps = 1000},
    {.name = "Reacher-v5",
     .obs_dim = 10,
     .act_dim = 2,
     .action_low = -1,
     .action_high = 1,
     .frame_skip = 2,
     .dt = 0.02,
     .max_episode_steps = 50},
};

// The entry named `name` (exact Gymnasium id), or null. Usable in constant
// expressions (the replay benchmark sizes its rows with it).
constexpr const TaskShape* LookupTaskShape(std::string_view name) {
  for (const TaskShape& shape : kTaskShapes) {
    if (shape.name == name) return &shape;
  }
  return nullptr;
}

// The same, or NOT_FOUND naming `name` and every known task.
absl::StatusOr<const TaskShape*> FindTaskShape(std::string_view name);

// The nine names, in the table's order.
std::vector<std::string> TaskNames();

}  // namespace sac

#endif  // SAC_COMMON_TASK_SHAPE_H_

#include "replay_server/task_dims.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sac::replay {
namespace {

struct Entry {
  const char* name;
  TaskDims dims;
};

// reference/mujoco/TASKS.md (Gymnasium v5 defaults).
constexpr Entry kTasks[] = {
    {"HalfCheetah", {17, 6}},      {"Hopper", {11, 3}},
    {"Walker2d", {17, 6}},         {"Ant", {105, 8}},
    {"Humanoid", {348, 17}},       {"InvertedPendulum", {4, 1}},
    {"InvertedDoublePendulum", {9, 1}}, {"Swimmer", {8, 2}},
    {"Reacher", {10, 2}},
};

}  // namespace

absl::StatusOr<TaskDims> DimsOfTask(absl::string_view task) {
  absl::string_view base = task;
  absl::ConsumeSuffix(&base, "-v5");
  std::string known;
  for (const Entry& e : kTasks) {
    if (base == e.name) return e.dims;
    absl::StrAppend(&known, known.empty() ? "" : ", ", e.name, "-v5");
  }
  return absl::NotFoundError(absl::StrCat("task: unknown task '", task, "' (known: ", known, ")"));
}

}  // namespace sac::replay

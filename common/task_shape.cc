#include "common/task_shape.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sac {

absl::StatusOr<const TaskShape*> FindTaskShape(std::string_view name) {
  if (const TaskShape* shape = LookupTaskShape(name)) return shape;
  return absl::NotFoundError(absl::StrCat("unknown task '",
                                          absl::string_view(name.data(), name.size()),
                                          "'; known tasks: ", absl::StrJoin(TaskNames(), ", ")));
}

std::vector<std::string> TaskNames() {
  std::vector<std::string> names;
  for (const TaskShape& shape : kTaskShapes) names.emplace_back(shape.name);
  return names;
}

}  // namespace sac

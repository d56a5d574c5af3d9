// Test helper: gtest parameter names from task ids ("Hopper-v5" -> "Hopper_v5").
#ifndef SAC_ENVS_TASK_PARAM_NAME_H_
#define SAC_ENVS_TASK_PARAM_NAME_H_

#include <gtest/gtest.h>

#include <string>

namespace sac::envs {

inline std::string TaskParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n) {
    if (c == '-') c = '_';
  }
  return n;
}

}  // namespace sac::envs

#endif  // SAC_ENVS_TASK_PARAM_NAME_H_

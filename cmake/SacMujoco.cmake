# Defines sac::mujoco from the mujoco-core wheel in the venv (the MuJoCo that
# Gymnasium runs): headers in mujoco/include, the library as libmujoco.so.<ver>.
if(TARGET sac::mujoco)
  return()
endif()
set(_mj_root "${SAC_SITE_PACKAGES}/mujoco")
file(GLOB _mj_libs "${_mj_root}/libmujoco.so.*")
if(NOT _mj_libs OR NOT EXISTS "${_mj_root}/include/mujoco/mujoco.h")
  message(FATAL_ERROR "No MuJoCo in ${_mj_root}: run deploy/install-deps.sh")
endif()
list(GET _mj_libs 0 SAC_MUJOCO_LIBRARY)
add_library(sac_mujoco INTERFACE)
target_include_directories(sac_mujoco SYSTEM INTERFACE "${_mj_root}/include")
target_link_libraries(sac_mujoco INTERFACE "${SAC_MUJOCO_LIBRARY}")
target_link_options(sac_mujoco INTERFACE "LINKER:-rpath,${_mj_root}")
add_library(sac::mujoco ALIAS sac_mujoco)
# Gymnasium's own model files (the tasks load exactly these).
set(SAC_GYM_ASSETS_DIR "${SAC_SITE_PACKAGES}/gymnasium/envs/mujoco/assets")
message(STATUS "sac: MuJoCo ${SAC_MUJOCO_LIBRARY}")

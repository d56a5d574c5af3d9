# Defines sac::torch, the LibTorch that our learner links.
#
# Default: LibTorch from the torch wheel in the venv (the same Torch the Python
# tests use). find_package(Torch) with this CUDA wheel refuses to configure on a
# machine without a CUDA toolkit, so the target is made from the wheel's folders:
# includes, libtorch/libtorch_cpu/libc10, and libtorch_cuda linked --no-as-needed
# so CUDA kernels register when a GPU is present. The linker must also see the
# wheel's NVIDIA libraries (rpath-link), or it resolves NCCL symbols against the
# system toolkit's older NCCL and fails.
#
# With -DTorch_DIR=... (e.g. a CUDA LibTorch in a GPU image) find_package is used.
if(TARGET sac::torch)
  return()
endif()

if(Torch_DIR)
  find_package(Torch REQUIRED)
  add_library(sac_torch INTERFACE)
  target_link_libraries(sac_torch INTERFACE ${TORCH_LIBRARIES})
  target_include_directories(sac_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  add_library(sac::torch ALIAS sac_torch)
  message(STATUS "sac: LibTorch from Torch_DIR=${Torch_DIR}")
  return()
endif()

set(_torch_root "${SAC_SITE_PACKAGES}/torch")
if(NOT EXISTS "${_torch_root}/lib/libtorch_cpu.so")
  message(FATAL_ERROR "No LibTorch in ${_torch_root}: run deploy/install-deps.sh")
endif()
add_library(sac_torch INTERFACE)
target_include_directories(sac_torch SYSTEM INTERFACE
  "${_torch_root}/include" "${_torch_root}/include/torch/csrc/api/include")

set(_torch_libs "${_torch_root}/lib/libtorch.so" "${_torch_root}/lib/libtorch_cpu.so"
                "${_torch_root}/lib/libc10.so")
set(_rpath_dirs "${_torch_root}/lib")
file(GLOB _nvidia_lib_dirs LIST_DIRECTORIES true "${SAC_SITE_PACKAGES}/nvidia/*/lib")
list(APPEND _rpath_dirs ${_nvidia_lib_dirs})
set(SAC_TORCH_HAS_CUDA OFF)
if(SAC_WITH_CUDA AND EXISTS "${_torch_root}/lib/libtorch_cuda.so")
  set(SAC_TORCH_HAS_CUDA ON)
  target_link_libraries(sac_torch INTERFACE
    "-Wl,--no-as-needed" "${_torch_root}/lib/libtorch_cuda.so"
    "${_torch_root}/lib/libc10_cuda.so" "-Wl,--as-needed")
endif()
target_link_libraries(sac_torch INTERFACE ${_torch_libs} Threads::Threads)
foreach(_dir IN LISTS _rpath_dirs)
  target_link_options(sac_torch INTERFACE "LINKER:-rpath-link,${_dir}" "LINKER:-rpath,${_dir}")
endforeach()
add_library(sac::torch ALIAS sac_torch)
message(STATUS "sac: LibTorch from the wheel at ${_torch_root} (CUDA library linked: ${SAC_TORCH_HAS_CUDA})")

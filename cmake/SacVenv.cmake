# Locates the project venv (.venv, made by deploy/install-deps.sh) and its
# site-packages, where the torch and mujoco-core wheels keep their C++ parts.
# Sets SAC_PYTHON and SAC_SITE_PACKAGES.
set(SAC_VENV "${CMAKE_SOURCE_DIR}/.venv" CACHE PATH "Project virtual environment")
if(NOT EXISTS "${SAC_VENV}/bin/python")
  message(FATAL_ERROR "No venv at ${SAC_VENV}: run deploy/install-deps.sh (or `make deps`) first")
endif()
set(SAC_PYTHON "${SAC_VENV}/bin/python")
execute_process(
  COMMAND ${SAC_PYTHON} -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
  OUTPUT_VARIABLE SAC_SITE_PACKAGES OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0 OR NOT IS_DIRECTORY "${SAC_SITE_PACKAGES}")
  message(FATAL_ERROR "Cannot ask ${SAC_PYTHON} for its site-packages")
endif()
# Resolve the .venv link so RPATHs name the real, shared venv directory.
get_filename_component(SAC_SITE_PACKAGES "${SAC_SITE_PACKAGES}" REALPATH)
message(STATUS "sac: venv site-packages ${SAC_SITE_PACKAGES}")

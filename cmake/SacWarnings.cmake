# sac_warnings(target): our warning set, as errors when SAC_WERROR is on.
# Applied to our own targets only; generated and third-party code is left alone.
function(sac_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter
                                           -Wno-missing-field-initializers)
  if(SAC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
endfunction()

# sac_test(name SOURCES ... LIBS ... [TIMEOUT s] [LABELS ...] [SERIAL]): a GoogleTest
# binary registered with ctest, one ctest entry per test case. SERIAL: its cases
# run alone (heavy multi-process tests).
function(sac_test name)
  cmake_parse_arguments(T "SERIAL" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES} ${CMAKE_SOURCE_DIR}/tests/testing/test_env.cc)
  if(SAC_SANITIZE STREQUAL "thread")
    # Debian's Abseil is not instrumented: tell TSan what its locks synchronize.
    target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/sanitizers/tsan_absl_sync.cc)
  endif()
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  # The build's paths, set in the test process's environment (test_env.cc):
  # ctest's ENVIRONMENT through gtest_discover_tests keeps only the first of
  # several variables.
  target_compile_definitions(${name} PRIVATE
    SAC_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}" SAC_TEST_BINARY_DIR="${CMAKE_BINARY_DIR}"
    SAC_TEST_PYTHON="${SAC_PYTHON}" SAC_TEST_PYTHONPATH="${SAC_PYTHONPATH}")
  sac_warnings(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(_props TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    list(APPEND _props LABELS "${T_LABELS}")
  endif()
  if(T_SERIAL)
    list(APPEND _props RUN_SERIAL TRUE)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    PROPERTIES ${_props})
endfunction()

# SAC_FUZZ: every target gets libFuzzer's coverage instrumentation (the fuzz
# executables in tests/fuzz link libFuzzer itself). Needs clang and the ASan +
# UBSan build (SAC_SANITIZE=address), so a fuzzer stops at the first memory
# error or undefined behaviour.
if(SAC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SAC_FUZZ=ON needs clang (CC=clang CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(NOT SAC_SANITIZE STREQUAL "address")
    message(FATAL_ERROR "SAC_FUZZ=ON needs SAC_SANITIZE=address (ASan + UBSan)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=fuzzer-no-link)
endif()

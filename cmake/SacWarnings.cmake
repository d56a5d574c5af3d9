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
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  sac_warnings(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(_labels "")
  if(T_LABELS)
    set(_labels LABELS "${T_LABELS}")
  endif()
  if(T_SERIAL)
    list(APPEND _labels RUN_SERIAL TRUE)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
    PROPERTIES TIMEOUT ${T_TIMEOUT} ${_labels}
               ENVIRONMENT "SAC_SOURCE_DIR=${CMAKE_SOURCE_DIR};SAC_BINARY_DIR=${CMAKE_BINARY_DIR};SAC_PYTHON=${SAC_PYTHON};PYTHONPATH=${SAC_PYTHONPATH}")
endfunction()

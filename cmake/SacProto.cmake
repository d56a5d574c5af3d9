# sac_proto_library(target PROTOS a.proto ... [DEPS other_proto_targets]):
# C++ messages and gRPC stubs with Debian's protoc and grpc_cpp_plugin, compiled
# into a static library (without our -Werror: generated code is not ours).
# Python stubs come from the venv's grpcio-tools (so they match the venv's
# protobuf runtime) into ${CMAKE_BINARY_DIR}/python.
set(SAC_PROTO_ROOT "${CMAKE_SOURCE_DIR}/proto")
set(SAC_PROTO_OUT "${CMAKE_BINARY_DIR}/gen")
set(SAC_PY_OUT "${CMAKE_BINARY_DIR}/python")
file(MAKE_DIRECTORY ${SAC_PROTO_OUT} ${SAC_PY_OUT})
get_target_property(SAC_GRPC_CPP_PLUGIN gRPC::grpc_cpp_plugin LOCATION)

function(sac_proto_library target)
  cmake_parse_arguments(P "" "" "PROTOS;DEPS" ${ARGN})
  set(_srcs)
  set(_pys)
  foreach(_proto IN LISTS P_PROTOS)
    get_filename_component(_abs "${_proto}" ABSOLUTE)
    file(RELATIVE_PATH _rel "${SAC_PROTO_ROOT}" "${_abs}")
    string(REGEX REPLACE "\\.proto$" "" _stem "${_rel}")
    set(_out "${SAC_PROTO_OUT}/${_stem}.pb.cc" "${SAC_PROTO_OUT}/${_stem}.pb.h"
             "${SAC_PROTO_OUT}/${_stem}.grpc.pb.cc" "${SAC_PROTO_OUT}/${_stem}.grpc.pb.h")
    add_custom_command(
      OUTPUT ${_out}
      COMMAND protobuf::protoc --proto_path=${SAC_PROTO_ROOT}
              --cpp_out=${SAC_PROTO_OUT} --grpc_out=${SAC_PROTO_OUT}
              --plugin=protoc-gen-grpc=${SAC_GRPC_CPP_PLUGIN} ${_abs}
      DEPENDS ${_abs} protobuf::protoc
      COMMENT "protoc (C++) ${_rel}" VERBATIM)
    list(APPEND _srcs ${_out})
    set(_py "${SAC_PY_OUT}/${_stem}_pb2.py" "${SAC_PY_OUT}/${_stem}_pb2_grpc.py")
    add_custom_command(
      OUTPUT ${_py}
      COMMAND ${SAC_PYTHON} -m grpc_tools.protoc --proto_path=${SAC_PROTO_ROOT}
              --python_out=${SAC_PY_OUT} --grpc_python_out=${SAC_PY_OUT} ${_abs}
      DEPENDS ${_abs}
      COMMENT "protoc (Python) ${_rel}" VERBATIM)
    list(APPEND _pys ${_py})
  endforeach()
  add_library(${target} STATIC ${_srcs})
  target_include_directories(${target} SYSTEM PUBLIC ${SAC_PROTO_OUT})
  target_link_libraries(${target} PUBLIC ${P_DEPS} protobuf::libprotobuf gRPC::grpc++)
  add_custom_target(${target}_py ALL DEPENDS ${_pys})
endfunction()

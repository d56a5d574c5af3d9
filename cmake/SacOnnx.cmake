# Defines sac::onnx_proto: the ONNX schema's C++ messages (onnx::ModelProto and
# the rest), generated at build time by Debian's protoc from the onnx.proto that
# ships in the pinned onnx wheel in the venv (deploy/requirements.txt). The
# schema is a dependency like LibTorch and MuJoCo, not a file of this repository.
# onnx.proto says `optimize_for = LITE_RUNTIME`: the messages are MessageLite
# (serialize and parse; no reflection, no text format).
# Needs SAC_SITE_PACKAGES (SacVenv) and SAC_PROTO_OUT (SacProto).
if(TARGET sac::onnx_proto)
  return()
endif()
set(SAC_ONNX_PROTO "${SAC_SITE_PACKAGES}/onnx/onnx.proto")
if(NOT EXISTS "${SAC_ONNX_PROTO}")
  message(FATAL_ERROR "No ${SAC_ONNX_PROTO}: the venv lacks the onnx wheel; run deploy/install-deps.sh")
endif()
set(_onnx_out "${SAC_PROTO_OUT}/onnx/onnx.pb.cc" "${SAC_PROTO_OUT}/onnx/onnx.pb.h")
add_custom_command(
  OUTPUT ${_onnx_out}
  COMMAND protobuf::protoc --proto_path=${SAC_SITE_PACKAGES} --cpp_out=${SAC_PROTO_OUT}
          ${SAC_ONNX_PROTO}
  DEPENDS ${SAC_ONNX_PROTO} protobuf::protoc
  COMMENT "protoc (C++) onnx/onnx.proto from the onnx wheel" VERBATIM)
add_library(sac_onnx_proto STATIC ${_onnx_out})
target_include_directories(sac_onnx_proto SYSTEM PUBLIC ${SAC_PROTO_OUT})
target_link_libraries(sac_onnx_proto PUBLIC protobuf::libprotobuf)
add_library(sac::onnx_proto ALIAS sac_onnx_proto)
message(STATUS "sac: ONNX schema ${SAC_ONNX_PROTO}")

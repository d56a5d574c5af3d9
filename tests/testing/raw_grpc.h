// Test support: gRPC calls with raw bytes as requests, to send servers bytes
// that are no valid message (what a careless or hostile client may send).
#ifndef SAC_TESTS_TESTING_RAW_GRPC_H_
#define SAC_TESTS_TESTING_RAW_GRPC_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace sac::testing {

// Bytes that no protobuf message parses: field 1 as a length-delimited field
// of 127 bytes with only one byte present.
std::string UnparseableBytes();

// A unary call of `method` ("/sac.v1.ReplayService/GetStatus") with `request`
// as the request's wire bytes; the final status.
grpc::Status RawUnaryCall(const std::string& address, const std::string& method,
                          const std::string& request, absl::Duration timeout = absl::Seconds(20));

// A server-streaming call; the final status after reading every message
// (counted in `*messages` when given).
grpc::Status RawServerStreamCall(const std::string& address, const std::string& method,
                                 const std::string& request, int* messages = nullptr,
                                 absl::Duration timeout = absl::Seconds(20));

// A bidi stream: writes `requests` in order (stopping at the first failed
// write), half-closes, reads every answer into `*responses` (when given) and
// returns the final status.
grpc::Status RawBidiCall(const std::string& address, const std::string& method,
                         const std::vector<std::string>& requests,
                         std::vector<std::string>* responses = nullptr,
                         absl::Duration timeout = absl::Seconds(20));

}  // namespace sac::testing

#endif  // SAC_TESTS_TESTING_RAW_GRPC_H_

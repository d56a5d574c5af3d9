// Transport security and bearer tokens for every gRPC server and client
// (DESIGN.md "Security"): TLS when certificates are given, mutual TLS as an
// option, a bearer token checked on every RPC when one is configured.
#ifndef SAC_COMMON_SECURITY_H_
#define SAC_COMMON_SECURITY_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sac/v1/config_common.pb.h"

namespace sac {

// Constant-time comparison (the time depends on the lengths only).
bool TokenMatches(absl::string_view got, absl::string_view want);

// Reads a token file (surrounding whitespace stripped; empty file is an error).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// Plaintext when tls.cert_file is empty; TLS, or mutual TLS with
// require_client_cert, otherwise. Errors name the file that could not be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const v1::TlsConfig& tls);
// Plaintext when tls.ca_file and cert_file are empty; TLS otherwise (a client
// certificate is presented when cert_file/key_file are given).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const v1::TlsConfig& tls);

// Server side: OK when no token is configured or the call carries
// "authorization: Bearer <token>"; UNAUTHENTICATED otherwise.
grpc::Status CheckBearerToken(const grpc::ServerContextBase& context, const std::string& token);

}  // namespace sac

#endif  // SAC_COMMON_SECURITY_H_

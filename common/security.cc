#include "common/security.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"

namespace sac {
namespace {

// The file, or an error that starts with the flag's name (`what`) and the path.
absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return Annotate(text.status(), what);
  return text;
}

}  // namespace

bool TokenMatches(absl::string_view got, absl::string_view want) {
  unsigned char diff = got.size() == want.size() ? 0 : 1;
  const size_t n = std::min(got.size(), want.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(got[i] ^ want[i]);
  return diff == 0;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  auto text = ReadFile(path, "auth_token_file");
  if (!text.ok()) return text.status();
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("auth_token_file '", path, "' is empty"));
  }
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const v1::TlsConfig& tls) {
  if (tls.cert_file().empty()) {
    if (tls.require_client_cert()) {
      return absl::InvalidArgumentError("tls.require_client_cert needs tls.cert_file and key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options;
  auto cert = ReadFile(tls.cert_file(), "tls.cert_file");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(tls.key_file(), "tls.key_file");
  if (!key.ok()) return key.status();
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.ca_file().empty()) {
    auto ca = ReadFile(tls.ca_file(), "tls.ca_file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (tls.require_client_cert()) {
    if (options.pem_root_certs.empty()) {
      return absl::InvalidArgumentError("tls.require_client_cert needs tls.ca_file");
    }
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const v1::TlsConfig& tls) {
  if (tls.ca_file().empty() && tls.cert_file().empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file().empty()) {
    auto ca = ReadFile(tls.ca_file(), "tls.ca_file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (!tls.cert_file().empty()) {
    auto cert = ReadFile(tls.cert_file(), "tls.cert_file");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(tls.key_file(), "tls.key_file");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

grpc::Status CheckBearerToken(const grpc::ServerContextBase& context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing bearer token");
  }
  const absl::string_view got(it->second.data(), it->second.size());
  if (!TokenMatches(got, absl::StrCat("Bearer ", token))) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong bearer token");
  }
  return grpc::Status::OK;
}

}  // namespace sac

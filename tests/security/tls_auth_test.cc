// Transport security on a real server process (sac-replay): TLS, mutual TLS and
// the bearer token. Certificates come from a throwaway CA made with openssl.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/testing/process.h"
#include "tools/sacctl/clients.h"

namespace sac {
namespace {

using ::testing::HasSubstr;

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

// CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
// second CA whose client certificate the server must refuse.
class TlsAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir("tls"));
    const std::string d = *dir_;
    std::ofstream(d + "/san.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    for (const std::string ca : {"ca", "rogue_ca"}) {
      ASSERT_EQ(Shell(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=",
                                   ca, " -keyout ", d, "/", ca, ".key -out ", d, "/", ca, ".pem")),
                0);
    }
    auto issue = [&](const std::string& name, const std::string& ca, bool san) {
      ASSERT_EQ(Shell(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=", name,
                                   " -keyout ", d, "/", name, ".key -out ", d, "/", name, ".csr")),
                0);
      ASSERT_EQ(
          Shell(absl::StrCat("openssl x509 -req -days 2 -in ", d, "/", name, ".csr -CA ", d, "/",
                             ca, ".pem -CAkey ", d, "/", ca, ".key -CAcreateserial -out ", d, "/",
                             name, ".pem", san ? " -extfile " + d + "/san.cnf" : "")),
          0);
    };
    issue("server", "ca", true);
    issue("client", "ca", false);
    issue("rogue", "rogue_ca", false);
    std::ofstream(d + "/token") << "s3cret-token\n";
    std::ofstream(d + "/wrong_token") << "not-the-token\n";
  }

  void StartShard(bool mutual) {
    const std::string d = *dir_;
    const std::string port_file = d + (mutual ? "/mtls.port" : "/tls.port");
    auto p = testing::ChildProcess::Start(
        {testing::BinaryPath("sac-replay"), "--task=Hopper-v5", "--capacity=1000",
         "--durability.enabled=false", "--server.tls.cert_file=" + d + "/server.pem",
         "--server.tls.key_file=" + d + "/server.key", "--server.tls.ca_file=" + d + "/ca.pem",
         absl::StrCat("--server.tls.require_client_cert=", mutual ? "true" : "false"),
         "--server.auth_token_file=" + d + "/token", "--server.port_file=" + port_file},
        d + (mutual ? "/mtls.log" : "/tls.log"));
    ASSERT_TRUE(p.ok());
    shard_ = std::move(*p);
    auto ports = testing::WaitForPortFile(port_file, absl::Seconds(60), shard_.get());
    ASSERT_TRUE(ports.ok()) << ports.status();
    address_ = absl::StrCat("127.0.0.1:", ports->grpc);
  }

  // A client: TLS when `ca` is set, presenting `cert` when set, sending the
  // token in `token_file` when set.
  absl::Status Call(const std::string& ca, const std::string& cert, const std::string& token_file) {
    v1::ClientConfig config;
    const std::string d = *dir_;
    if (!ca.empty()) config.mutable_tls()->set_ca_file(d + "/" + ca + ".pem");
    if (!cert.empty()) {
      config.mutable_tls()->set_cert_file(d + "/" + cert + ".pem");
      config.mutable_tls()->set_key_file(d + "/" + cert + ".key");
    }
    if (!token_file.empty()) config.set_auth_token_file(d + "/" + token_file);
    auto options = sacctl::MakeClientOptions(config);
    if (!options.ok()) return options.status();
    options->timeout = absl::Seconds(5);
    return sacctl::GetReplayStatus(address_, *options).status();
  }

  static std::string* dir_;
  std::unique_ptr<ChildProcess> shard_;
  std::string address_;
};
std::string* TlsAuth::dir_ = nullptr;

// --server.metrics_require_token: /metrics answers only with the token the
// process read from its auth_token_file (the one its gRPC services check).
TEST_F(TlsAuth, MetricsRequireTheServersToken) {
  const std::string d = *dir_;
  const std::string port_file = d + "/metrics_token.port";
  auto p = testing::ChildProcess::Start(
      {testing::BinaryPath("sac-replay"), "--task=Hopper-v5", "--capacity=1000",
       "--durability.enabled=false", "--server.auth_token_file=" + d + "/token",
       "--server.metrics_require_token=true", "--server.port_file=" + port_file},
      d + "/metrics_token.log");
  ASSERT_TRUE(p.ok());
  auto ports = testing::WaitForPortFile(port_file, absl::Seconds(60), p->get());
  ASSERT_TRUE(ports.ok()) << ports.status();
  const auto none = testing::HttpGet(ports->metrics, "/metrics");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("HTTP 401"));
  EXPECT_FALSE(testing::HttpGet(ports->metrics, "/metrics", "not-the-token").ok());
  const auto with = testing::HttpGet(ports->metrics, "/metrics", "s3cret-token");
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_THAT(*with, HasSubstr("sac_replay_table_size"));
}

TEST_F(TlsAuth, TlsWithTokenAcceptsOnlyTheRightToken) {
  StartShard(/*mutual=*/false);
  EXPECT_TRUE(Call("ca", "", "token").ok());
  const absl::Status no_token = Call("ca", "", "");
  EXPECT_EQ(no_token.code(), absl::StatusCode::kUnauthenticated) << no_token;
  EXPECT_THAT(no_token.message(), HasSubstr("missing bearer token"));
  const absl::Status wrong = Call("ca", "", "wrong_token");
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated) << wrong;
  EXPECT_THAT(wrong.message(), HasSubstr("wrong bearer token"));
  // Plaintext to a TLS port, or a client that does not trust the server's CA:
  // no connection at all.
  EXPECT_EQ(Call("", "", "token").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call("rogue_ca", "", "token").code(), absl::StatusCode::kUnavailable);
}

TEST_F(TlsAuth, MutualTlsRefusesClientsWithoutAValidCertificate) {
  StartShard(/*mutual=*/true);
  EXPECT_TRUE(Call("ca", "client", "token").ok());
  // No client certificate, or one from another CA: the handshake fails.
  EXPECT_EQ(Call("ca", "", "token").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Call("ca", "rogue", "token").code(), absl::StatusCode::kUnavailable);
  // A valid certificate still needs the token.
  EXPECT_EQ(Call("ca", "client", "").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TlsAuth, MissingCertificateFileIsOneClearLine) {
  std::string out;
  auto p = testing::ChildProcess::Start(
      {testing::BinaryPath("sac-replay"), "--task=Hopper-v5", "--durability.enabled=false",
       "--server.tls.cert_file=/nonexistent/server.pem", "--server.tls.key_file=/nonexistent/k"},
      *dir_ + "/missing.log");
  ASSERT_TRUE(p.ok());
  auto status = (*p)->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(*status, 0);
  EXPECT_THAT((*p)->ReadLog(), HasSubstr("tls.cert_file: cannot read '/nonexistent/server.pem'"));
}

}  // namespace
}  // namespace sac

#include "src/web_config.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>

namespace portwatch::collector {
namespace {

std::string Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn("$2y$", 4, nullptr, 0, salt, sizeof salt), nullptr);
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  return crypt_r(password.c_str(), salt, &data);
}

std::string Basic(const std::string& user_pass) {
  std::string out(4 * ((user_pass.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(user_pass.data()),
                                static_cast<int>(user_pass.size()));
  out.resize(static_cast<size_t>(n));
  return "Basic " + out;
}

TEST(WebConfig, EmptyFileMeansPlainHttpWithoutAuth) {
  auto c = ParseWebConfig("", "w.yml", "/etc/pw");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_FALSE(c->tls);
  EXPECT_TRUE(c->basic_auth_users.empty());
}

TEST(WebConfig, ReadsTlsAndResolvesRelativePathsAgainstTheFilesDirectory) {
  const std::string hash = Bcrypt("s3cret");
  auto c = ParseWebConfig(
      "tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: /abs/key.pem\n"
      "  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n"
      "  min_version: TLS13\nbasic_auth_users:\n  prom: " +
          hash + "\n",
      "w.yml", "/etc/pw");
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c->tls);
  EXPECT_EQ(c->tls->cert_file, "/etc/pw/tls/cert.pem");
  EXPECT_EQ(c->tls->key_file, "/abs/key.pem");
  EXPECT_EQ(c->tls->client_ca_file, "/etc/pw/ca.pem");
  EXPECT_EQ(c->tls->client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(c->tls->min_version, 0x0304);
  EXPECT_EQ(c->basic_auth_users.at("prom"), hash);
}

TEST(WebConfig, DefaultsToTls12MinimumAndNoClientCert) {
  auto c = ParseWebConfig("tls_server_config: {cert_file: c.pem, key_file: k.pem}\n", "w.yml", "");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->tls->min_version, 0x0303);
  EXPECT_EQ(c->tls->client_auth, ClientAuth::kNoClientCert);
}

// Each bad file is refused with a message naming the file and the field at fault.
TEST(WebConfig, ErrorsNameTheFileAndTheField) {
  struct Case {
    std::string yaml, field;
  } cases[] = {
      {"tls_server_config: {cert_file: c, key_file: k, min_version: TLS11}\n", "min_version"},
      {"tls_server_config: {cert_file: c, key_file: k, min_version: TLS99}\n", "min_version"},
      {"tls_server_config: {cert_file: c, key_file: k, client_auth_type: Yes}\n",
       "client_auth_type"},
      {"tls_server_config: {cert_file: c, key_file: k, client_auth_type: "
       "RequireAndVerifyClientCert}\n",
       "client_ca_file"},
      {"tls_server_config: {cert_file: c}\n", "key_file"},
      {"tls_server_config: {cert_file: c, key_file: k, certfile: x}\n", "certfile"},
      {"tls_server_config: {cert_file: c, key_file: k, cipher_suites: [a]}\n", "cipher_suites"},
      {"basic_auth_users: {prom: plaintext}\n", "basic_auth_users.prom"},
      {"basic_auth_users: {prom: \"$2y$10$tooshort\"}\n", "basic_auth_users.prom"},
      {"basic_auth_user: {prom: x}\n", "basic_auth_user"},
      {"tls_server_config: [\n", "YAML"},
  };
  for (const auto& c : cases) {
    auto r = ParseWebConfig(c.yaml, "/etc/pw/web.yml", "/etc/pw");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.error().find("/etc/pw/web.yml"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(c.field), std::string::npos) << r.error();
  }
}

TEST(WebConfig, MissingFileIsAnError) {
  auto r = LoadWebConfig("/nonexistent/web.yml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("/nonexistent/web.yml"), std::string::npos);
}

TEST(BasicAuth, AcceptsTheRightPasswordOnly) {
  BasicAuth auth({{"prom", Bcrypt("s3cret")}, {"ops", Bcrypt("other")}});
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.Allows(Basic("prom:s3cret")));
  EXPECT_TRUE(auth.Allows(Basic("prom:s3cret")));  // the remembered one
  EXPECT_TRUE(auth.Allows(Basic("ops:other")));
  EXPECT_FALSE(auth.Allows(Basic("prom:wrong")));
  EXPECT_FALSE(auth.Allows(Basic("prom:s3cret ")));
  EXPECT_FALSE(auth.Allows(Basic("ops:s3cret")));  // another user's password
  EXPECT_FALSE(auth.Allows(Basic("nobody:s3cret")));
  EXPECT_FALSE(auth.Allows(Basic("prom")));
  EXPECT_FALSE(auth.Allows(""));
  EXPECT_FALSE(auth.Allows("Bearer abc"));
  EXPECT_FALSE(auth.Allows("Basic !!!!"));
  EXPECT_TRUE(auth.Allows(Basic("ops:other")));
}

TEST(BasicAuth, PasswordsWithColonsAndPaddingLengths) {
  for (const std::string pw : {"a", "ab", "abc", "a:b:c"}) {
    BasicAuth auth({{"u", Bcrypt(pw)}});
    EXPECT_TRUE(auth.Allows(Basic("u:" + pw))) << pw;
    EXPECT_FALSE(auth.Allows(Basic("u:" + pw + "x"))) << pw;
  }
}

TEST(BasicAuth, NoUsersAllowsEverything) {
  BasicAuth auth({});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.Allows(""));
}

}  // namespace
}  // namespace portwatch::collector

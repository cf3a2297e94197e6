// RevocationList against real certificates and CRLs made by deploy/pki/pki.sh (openssl CLI).
#include "portwatch/revocation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>

#include "portwatch/files.h"

namespace portwatch {
namespace {

namespace fs = std::filesystem;

class RevocationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fs::temp_directory_path() /
                           ("pw-revocation-" + std::to_string(getpid())));
    ASSERT_EQ(Pki(*dir_ + "/a", "init"), 0);
    ASSERT_EQ(Pki(*dir_ + "/a", "host web01"), 0);
    ASSERT_EQ(Pki(*dir_ + "/a", "host web02"), 0);
    ASSERT_EQ(Pki(*dir_ + "/b", "init"), 0);
    ASSERT_EQ(Pki(*dir_ + "/b", "host web01"), 0);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static int Pki(const std::string& d, const std::string& args) {
    const std::string cmd = std::string(PORTWATCH_PKI_TOOL) + " --dir " + d + " " + args +
                            " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  }
  static std::string Read(const std::string& p) {
    auto t = ReadFileLimited(p, 1 << 20, "test file");
    return t.ok() ? *t : std::string();
  }
  static std::string A(const std::string& f) { return *dir_ + "/a/" + f; }
  static std::string B(const std::string& f) { return *dir_ + "/b/" + f; }
  static std::string* dir_;
};
std::string* RevocationTest::dir_ = nullptr;

TEST_F(RevocationTest, RevokedSerialIsRefusedOthersPass) {
  RevocationList list;
  ASSERT_TRUE(list.Load(A("crl.pem"), A("ca.pem")).ok());
  EXPECT_EQ(list.revoked_count(), 0u);
  EXPECT_GT(list.next_update_unix(), std::time(nullptr) + 29 * 86400);
  std::string why;
  EXPECT_FALSE(list.IsRevoked(Read(A("hosts/web01.pem")), &why));

  ASSERT_EQ(Pki(*dir_ + "/a", "revoke " + A("hosts/web01.pem")), 0);
  ASSERT_TRUE(list.Load(A("crl.pem"), A("ca.pem")).ok());
  EXPECT_EQ(list.revoked_count(), 1u);
  EXPECT_TRUE(list.IsRevoked(Read(A("hosts/web01.pem")), &why));
  EXPECT_NE(why.find("is revoked by the CRL"), std::string::npos) << why;
  EXPECT_FALSE(list.IsRevoked(Read(A("hosts/web02.pem")), &why));
  // Same host name, another CA's serial space: the issuer must match too.
  EXPECT_FALSE(list.IsRevoked(Read(B("hosts/web01.pem")), &why));
  EXPECT_TRUE(list.IsRevoked("not a certificate", &why));
}

TEST_F(RevocationTest, BadCrlIsRefusedAndThePreviousOneStays) {
  RevocationList list;
  ASSERT_EQ(Pki(*dir_ + "/a", "revoke " + A("hosts/web02.pem")), 0);
  ASSERT_TRUE(list.Load(A("crl.pem"), A("ca.pem")).ok());
  const size_t before = list.revoked_count();
  ASSERT_GE(before, 1u);

  Status other_ca = list.Load(B("crl.pem"), A("ca.pem"));
  ASSERT_FALSE(other_ca.ok());
  EXPECT_NE(other_ca.message().find("is not signed by a CA in"), std::string::npos);
  const std::string junk = *dir_ + "/junk.pem";
  ASSERT_TRUE(WriteFileAtomic(junk, "hello\n").ok());
  Status garbage = list.Load(junk, A("ca.pem"));
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.message().find("holds no PEM X509 CRL"), std::string::npos);
  EXPECT_FALSE(list.Load(*dir_ + "/missing.pem", A("ca.pem")).ok());

  EXPECT_EQ(list.revoked_count(), before);
  std::string why;
  EXPECT_TRUE(list.IsRevoked(Read(A("hosts/web02.pem")), &why));
}

TEST_F(RevocationTest, EmptyListRevokesNothing) {
  RevocationList list;
  std::string why;
  EXPECT_FALSE(list.IsRevoked(Read(A("hosts/web02.pem")), &why));
  EXPECT_EQ(list.next_update_unix(), 0);
}

TEST_F(RevocationTest, NotAfterOfACertificate) {
  auto t = CertificateNotAfterUnix(Read(A("hosts/web02.pem")));
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(static_cast<double>(*t), static_cast<double>(std::time(nullptr) + 365 * 86400),
              3600);
  EXPECT_FALSE(CertificateNotAfterUnix("junk").ok());
}

}  // namespace
}  // namespace portwatch

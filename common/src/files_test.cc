#include "portwatch/files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace portwatch {
namespace {

TEST(HostPort, ParsesV4V6AndNames) {
  auto a = ParseHostPort("127.0.0.1:9464", "--x");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto b = ParseHostPort("[::1]:0", "--x");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->ToString(), "[::1]:0");
  auto c = ParseHostPort("collector.example:7443", "--x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ToString(), "collector.example:7443");
}

TEST(HostPort, RejectsWithAnExample) {
  for (const char* bad : {"", "127.0.0.1", ":80", "host:", "host:abc", "host:70000", "::1:80",
                          "[::1]80", "[::1]:", "a:1:2"}) {
    auto r = ParseHostPort(bad, "--listen");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("--listen"), std::string::npos) << r.error();
  }
}

TEST(Files, ReadLimitedAndAtomicWrite) {
  const std::string path = ::testing::TempDir() + "pw_files_" + std::to_string(getpid());
  ASSERT_TRUE(WriteFileAtomic(path, "hello").ok());
  auto r = ReadFileLimited(path, 100, "test file");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
  auto big = ReadFileLimited(path, 3, "test file");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().find("larger than 3 bytes"), std::string::npos);
  unlink(path.c_str());
  auto gone = ReadFileLimited(path, 100, "test file");
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().find("cannot open test file"), std::string::npos);
  EXPECT_NE(gone.error().find("No such file"), std::string::npos);
  EXPECT_FALSE(WriteFileAtomic("/nonexistent-dir/x", "y").ok());
}

}  // namespace
}  // namespace portwatch

#include "portwatch/units.h"

#include <gtest/gtest.h>

namespace portwatch {
namespace {

TEST(Units, DurationsInEveryUnit) {
  EXPECT_EQ(*ParseDurationMs("500ms", "--x"), 500);
  EXPECT_EQ(*ParseDurationMs("15s", "--x"), 15000);
  EXPECT_EQ(*ParseDurationMs("15", "--x"), 15000);
  EXPECT_EQ(*ParseDurationMs("2m", "--x"), 120000);
  EXPECT_EQ(*ParseDurationMs("3h", "--x"), 3 * 3600000);
  EXPECT_EQ(*ParseDurationMs("7d", "--x"), 7 * 86400000LL);
}

TEST(Units, BadDurationsNameTheFlagAndGiveAnExample) {
  for (const char* bad : {"", "s", "-1s", "1.5s", "10y", "15 s", "1234567890s"}) {
    auto r = ParseDurationMs(bad, "--spool-max-age");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("--spool-max-age"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("e.g."), std::string::npos) << r.error();
  }
}

TEST(Units, Sizes) {
  EXPECT_EQ(*ParseByteSize("4096", "--x"), 4096u);
  EXPECT_EQ(*ParseByteSize("64KiB", "--x"), 64u * 1024);
  EXPECT_EQ(*ParseByteSize("64K", "--x"), 64u * 1024);
  EXPECT_EQ(*ParseByteSize("64MiB", "--x"), 64u << 20);
  EXPECT_EQ(*ParseByteSize("2GiB", "--x"), 2ull << 30);
  for (const char* bad : {"", "MiB", "64mb", "64 MiB", "-1"}) {
    auto r = ParseByteSize(bad, "--spool-max-bytes");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("--spool-max-bytes"), std::string::npos) << r.error();
  }
}

}  // namespace
}  // namespace portwatch

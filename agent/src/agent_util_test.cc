#include "src/agent_util.h"

#include <gtest/gtest.h>

namespace portwatch::agent {
namespace {

TEST(AgentUtil, Durations) {
  int64_t ms = 0;
  EXPECT_TRUE(ParseDurationMs("15s", &ms));
  EXPECT_EQ(ms, 15000);
  EXPECT_TRUE(ParseDurationMs("500ms", &ms));
  EXPECT_EQ(ms, 500);
  EXPECT_TRUE(ParseDurationMs("2m", &ms));
  EXPECT_EQ(ms, 120000);
  EXPECT_TRUE(ParseDurationMs("7", &ms));
  EXPECT_EQ(ms, 7000);
  for (const char* bad : {"", "s", "1h", "-5s", "1.5s", "1234567890s"}) {
    EXPECT_FALSE(ParseDurationMs(bad, &ms)) << bad;
  }
}

TEST(AgentUtil, RandomHexIsHexOfTheLengthAsked) {
  const std::string a = RandomHex(16), b = RandomHex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace portwatch::agent

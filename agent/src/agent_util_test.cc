#include "src/agent_util.h"

#include <gtest/gtest.h>

namespace portwatch::agent {
namespace {

TEST(AgentUtil, IntervalIsADurationWithinBounds) {
  EXPECT_EQ(*ParseIntervalMs("15s"), 15000);
  EXPECT_EQ(*ParseIntervalMs("500ms"), 500);
  EXPECT_EQ(*ParseIntervalMs("1h"), 3600000);
  for (const char* bad : {"", "s", "50ms", "2h", "-5s", "1.5s"}) {
    auto r = ParseIntervalMs(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("--interval"), std::string::npos) << r.error();
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

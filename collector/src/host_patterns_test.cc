#include "src/host_patterns.h"

#include <gtest/gtest.h>

namespace portwatch::collector {
namespace {

TEST(HostPatterns, EmptyAllowsEveryHost) {
  auto p = HostPatterns::Parse("", "--allow-hosts");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->empty());
  EXPECT_TRUE(p->Allows("anything.example.org"));
}

TEST(HostPatterns, GlobsMatchWholeNamesIgnoringCase) {
  auto p = HostPatterns::Parse("*.prod.example.com,web??,db[0-3]", "--allow-hosts");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_TRUE(p->Allows("api1.prod.example.com"));
  EXPECT_TRUE(p->Allows("a.b.prod.example.com"));
  EXPECT_TRUE(p->Allows("API1.Prod.Example.COM"));
  EXPECT_TRUE(p->Allows("web01"));
  EXPECT_TRUE(p->Allows("db2"));
  EXPECT_FALSE(p->Allows("prod.example.com"));  // the '.' before it is part of the pattern
  EXPECT_FALSE(p->Allows("api1.prod.example.com.attacker.net"));
  EXPECT_FALSE(p->Allows("web1"));
  EXPECT_FALSE(p->Allows("web001"));
  EXPECT_FALSE(p->Allows("db4"));
  EXPECT_FALSE(p->Allows("evil01"));
  EXPECT_FALSE(p->Allows(""));
  EXPECT_EQ(p->ToString(), "*.prod.example.com,web??,db[0-3]");
}

TEST(HostPatterns, BadPatternsAreRefusedWithTheFlagAndPattern) {
  for (const std::string bad : {"web01,,db", ",web", "web 01", "web01,", "a/b", "x\ny"}) {
    auto p = HostPatterns::Parse(bad, "--allow-hosts");
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.error().find("--allow-hosts"), std::string::npos) << p.error();
  }
}

}  // namespace
}  // namespace portwatch::collector

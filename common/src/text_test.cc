#include "portwatch/text.h"

#include <gtest/gtest.h>

namespace portwatch {
namespace {

TEST(SanitizeText, CleanTextWithinBoundIsUnchanged) {
  for (const std::string s : {"", "nginx", "C:\\Windows\\System32\\svchost.exe",
                              "Gr\xC3\xBC\xC3\x9F" "e \xE6\x9C\x8D\xE5\x8A\xA1 \xF0\x9F\x98\x80"}) {
    SanitizeInfo info;
    EXPECT_EQ(SanitizeText(s, 100, &info), s);
    EXPECT_FALSE(info.changed()) << s;
    EXPECT_TRUE(IsCleanText(s, 100));
  }
}

TEST(SanitizeText, InvalidUtf8BecomesReplacementCharacters) {
  SanitizeInfo info;
  // A stray continuation byte, a truncated sequence, an overlong '/', a surrogate, > U+10FFFF.
  EXPECT_EQ(SanitizeText("a\x80" "b", 100, &info), "a\xEF\xBF\xBD" "b");
  EXPECT_TRUE(info.repaired);
  EXPECT_EQ(SanitizeText("\xE6\x9C", 100), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeText("\xC0\xAF", 100), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeText("\xED\xA0\x80", 100), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeText("\xF4\x90\x80\x80", 100).find('\xF4'), std::string::npos);
}

TEST(SanitizeText, ControlCharactersAreEscaped) {
  SanitizeInfo info;
  EXPECT_EQ(SanitizeText("evil\n2026-01-01 forged line", 100, &info),
            "evil\\n2026-01-01 forged line");
  EXPECT_TRUE(info.escaped);
  EXPECT_EQ(SanitizeText("\x1B[2J\x1B]0;title\x07", 100), "\\x1B[2J\\x1B]0;title\\x07");
  EXPECT_EQ(SanitizeText(std::string("a\0b", 3), 100), "a\\x00b");
  EXPECT_EQ(SanitizeText("\t\r\x7F", 100), "\\t\\r\\x7F");
  // C1 CSI (U+009B) and a right-to-left override.
  EXPECT_EQ(SanitizeText("\xC2\x9B" "31m", 100), "\\u009B31m");
  EXPECT_EQ(SanitizeText("txt.\xE2\x80\xAE" "exe", 100), "txt.\\u202Eexe");
}

TEST(SanitizeText, LongTextIsCutVisiblyAtACharacterBoundary) {
  SanitizeInfo info;
  const std::string out = SanitizeText(std::string(5000, 'x'), 4096, &info);
  EXPECT_TRUE(info.truncated);
  EXPECT_EQ(out.size(), 4096u);
  EXPECT_EQ(out.substr(4093), "\xE2\x80\xA6");
  // Never splits a multi-byte character or an escape.
  const std::string cut = SanitizeText("\xC3\xBC\xC3\xBC\xC3\xBC\xC3\xBC", 6);
  EXPECT_EQ(cut, "\xC3\xBC\xE2\x80\xA6");
  EXPECT_EQ(SanitizeText("ab\ncd", 5), "ab\xE2\x80\xA6");  // the escape is not split
  EXPECT_EQ(SanitizeText("abcdef", 2), "");
  EXPECT_EQ(SanitizeText("abc", 3), "abc");  // fits exactly: no cut
}

TEST(SanitizeText, OutputIsAlwaysCleanAndBounded) {
  // Every byte value in every position of short strings: the output is a fixed point.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; b += 7) {
      const std::string in = {static_cast<char>(a), static_cast<char>(b), '\xBF'};
      const std::string out = SanitizeText(in, 16);
      EXPECT_LE(out.size(), 16u);
      EXPECT_TRUE(IsCleanText(out, 16)) << a << "," << b;
    }
  }
}

}  // namespace
}  // namespace portwatch

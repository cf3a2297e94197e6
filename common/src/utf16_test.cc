#include "portwatch/utf16.h"

#include <gtest/gtest.h>

namespace portwatch {
namespace {

TEST(Utf16, RoundTripsAsciiBmpAndAstral) {
  // "C:\Dienste\w3wp.exe", an umlaut path, a CJK name and an emoji (a surrogate pair).
  for (const std::string s : {"C:\\Dienste\\w3wp.exe", "C:\\Programme\\Gr\xC3\xBC\xC3\x9F" "e.exe",
                              "\xE6\x9C\x8D\xE5\x8A\xA1", "\xF0\x9F\x98\x80"}) {
    std::u16string w = Utf8ToUtf16(s);
    EXPECT_EQ(Utf16ToUtf8(w), s);
  }
  EXPECT_EQ(Utf8ToUtf16("\xF0\x9F\x98\x80").size(), 2u);
}

TEST(Utf16, BrokenInputBecomesReplacementCharacters) {
  const char16_t lone_high[] = {u'a', 0xD800, u'b'};
  EXPECT_EQ(Utf16ToUtf8(lone_high, 3), "a\xEF\xBF\xBD" "b");
  const char16_t lone_low[] = {0xDC00};
  EXPECT_EQ(Utf16ToUtf8(lone_low, 1), "\xEF\xBF\xBD");
  // A truncated sequence, a stray continuation byte and an overlong '/'.
  EXPECT_EQ(Utf8ToUtf16("a\xE6\x9C"), (std::u16string{u'a', 0xFFFD, 0xFFFD}));
  EXPECT_EQ(Utf8ToUtf16("\x80"), std::u16string(1, 0xFFFD));
  EXPECT_EQ(Utf8ToUtf16("\xC0\xAF"), (std::u16string{0xFFFD, 0xFFFD}));
}

}  // namespace
}  // namespace portwatch

#include "src/ui/text_format.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace portwatch::text {
namespace {

// Length of the UTF-8 sequence starting at in[i] if it is valid (shortest form, no surrogates,
// at most U+10FFFF), else 0.
size_t ValidSequence(std::string_view in, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  const unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0)
    n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0)
    n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (i + n > in.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string CleanText(std::string_view in, size_t max_bytes) {
  std::string out;
  out.reserve(in.size() < max_bytes ? in.size() : max_bytes);
  for (size_t i = 0; i < in.size();) {
    const size_t n = ValidSequence(in, i);
    std::string piece;
    if (n == 0) {
      piece = "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      const auto c = static_cast<unsigned char>(in[i]);
      const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(in[i + 1]) < 0xA0;
      if (n == 1 && (c < 0x20 || c == 0x7F)) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        piece = buf;
      } else if (c1) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(in[i + 1]));
        piece = buf;
      } else {
        piece.assign(in.substr(i, n));
      }
      i += n;
    }
    if (out.size() + piece.size() > max_bytes) {
      out += "\xE2\x80\xA6";  // …
      return out;
    }
    out += piece;
  }
  return out;
}

std::string Html(std::string_view in, size_t max_bytes) {
  const std::string clean = CleanText(in, max_bytes);
  std::string out;
  out.reserve(clean.size() + 16);
  for (char c : clean) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string UrlComponent(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Span(double seconds) {
  if (!std::isfinite(seconds)) return "never";
  const double s = std::fabs(seconds);
  char buf[32];
  if (s >= 2 * 86400)
    std::snprintf(buf, sizeof buf, "%.0f d", s / 86400);
  else if (s >= 2 * 3600)
    std::snprintf(buf, sizeof buf, "%.0f h", s / 3600);
  else if (s >= 120)
    std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

std::string Relative(int64_t unix_ms, int64_t now_unix_ms) {
  const double d = static_cast<double>(unix_ms - now_unix_ms) / 1000;
  return d > 0.5 ? "in " + Span(d) : Span(d) + " ago";
}

std::string DateTime(int64_t unix_ms, bool utc) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  if (utc)
    gmtime_r(&t, &tm);
  else
    localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace portwatch::text

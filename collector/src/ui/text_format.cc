#include "src/ui/text_format.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "portwatch/text.h"

namespace portwatch::text {
std::string CleanText(std::string_view in, size_t max_bytes) {
  std::string out;
  out.reserve(in.size() < max_bytes ? in.size() : max_bytes);
  // What is valid and what must be escaped is SanitizeText's rule (portwatch/text.h), spelled
  // here as the status page and portwatchctl have always shown it, the cut mark after the bound.
  for (size_t i = 0; i < in.size();) {
    const TextPiece p = NextTextPiece(in, i);
    std::string piece;
    char buf[16];
    switch (p.kind) {
      case TextPieceKind::kInvalid:
        piece = "\xEF\xBF\xBD";  // U+FFFD
        break;
      case TextPieceKind::kControl:
        std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(p.code_point));
        piece = buf;
        break;
      case TextPieceKind::kUnicodeEscape:
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(p.code_point));
        piece = buf;
        break;
      case TextPieceKind::kPlain:
        piece.assign(in.substr(i, p.length));
        break;
    }
    i += p.length;
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

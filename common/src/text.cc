#include "portwatch/text.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace portwatch {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kEllipsis[] = "\xE2\x80\xA6";     // U+2026
constexpr size_t kEllipsisBytes = 3;

// Length of the well-formed UTF-8 sequence at in[i] (Unicode table 3-7), 0 if ill-formed; sets
// *cp to its code point.
size_t DecodeOne(std::string_view in, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(in[i + k]); };
  const uint8_t c = b(0);
  const size_t left = in.size() - i;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
    return k < left && b(k) >= lo && b(k) <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) {
    if (!cont(1)) return 0;
    *cp = ((c & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;  // no overlongs,
    if (!cont(1, lo, hi) || !cont(2)) return 0;                                 // no surrogates
    *cp = ((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return 0;
    *cp = ((c & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    return 4;
  }
  return 0;
}

bool NeedsUnicodeEscape(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

}  // namespace

TextPiece NextTextPiece(std::string_view in, size_t i) {
  TextPiece p;
  p.length = DecodeOne(in, i, &p.code_point);
  if (p.length == 0) {
    p.kind = TextPieceKind::kInvalid;
    p.length = 1;
    p.code_point = 0;
  } else if (p.code_point < 0x20 || p.code_point == 0x7F) {
    p.kind = TextPieceKind::kControl;
  } else if (NeedsUnicodeEscape(p.code_point)) {
    p.kind = TextPieceKind::kUnicodeEscape;
  }
  return p;
}

std::string SanitizeText(std::string_view in, size_t max_bytes, SanitizeInfo* info) {
  SanitizeInfo local;
  SanitizeInfo& inf = info ? *info : local;
  inf = {};
  std::string out;
  out.reserve(in.size() < max_bytes ? in.size() : max_bytes);
  // Offsets in `out` after each whole output character, so a cut never splits one (or an escape).
  size_t last_fit = 0;      // length of the longest prefix that leaves room for the ellipsis
  bool over = false;
  for (size_t i = 0; i < in.size() && !over;) {
    const TextPiece p = NextTextPiece(in, i);
    const uint32_t cp = p.code_point;
    const size_t n = p.length;
    char piece[16];
    size_t piece_len = 0;
    if (p.kind == TextPieceKind::kInvalid) {
      inf.repaired = true;
      std::memcpy(piece, kReplacement, 3);
      piece_len = 3;
    } else if (p.kind == TextPieceKind::kControl) {
      inf.escaped = true;
      const char* named = cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : cp == '\t' ? "\\t" : nullptr;
      piece_len = named ? 2 : 4;
      if (named) {
        std::memcpy(piece, named, 2);
      } else {
        std::snprintf(piece, sizeof piece, "\\x%02X", static_cast<unsigned>(cp));
      }
    } else if (p.kind == TextPieceKind::kUnicodeEscape) {
      inf.escaped = true;
      std::snprintf(piece, sizeof piece, "\\u%04X", static_cast<unsigned>(cp));
      piece_len = 6;
    } else {
      std::memcpy(piece, in.data() + i, n);
      piece_len = n;
    }
    if (out.size() + piece_len > max_bytes) {
      over = true;
      break;
    }
    out.append(piece, piece_len);
    if (out.size() + kEllipsisBytes <= max_bytes) last_fit = out.size();
    i += n;
  }
  if (over) {
    inf.truncated = true;
    if (max_bytes < kEllipsisBytes) return std::string();
    out.resize(last_fit);
    out += kEllipsis;
  }
  return out;
}

bool IsCleanText(std::string_view in, size_t max_bytes) {
  SanitizeInfo info;
  SanitizeText(in, max_bytes, &info);
  return !info.changed();
}

}  // namespace portwatch

// The one sanitizer for untrusted text: process names and command lines read from /proc or the
// Windows process table, strings received from agents, anything an agent or a local user
// controls. Agent, collector and portwatchctl all pass such text through SanitizeText before it is
// stored, sent, shown or logged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portwatch {

/// What SanitizeText had to change, for counting.
struct SanitizeInfo {
  bool repaired = false;   ///< invalid UTF-8 replaced by U+FFFD
  bool escaped = false;    ///< control or bidirectional-override characters escaped
  bool truncated = false;  ///< cut to the byte bound (ends with U+2026 "...")
  bool changed() const { return repaired || escaped || truncated; }
};

/// Returns `in` as valid UTF-8 of at most `max_bytes` bytes, safe to print on a terminal or write
/// as one log line:
///  - every byte that is not part of a well-formed UTF-8 sequence (stray continuation bytes,
///    truncated or overlong sequences, surrogates, code points above U+10FFFF) becomes U+FFFD;
///  - C0 controls and DEL become "\n", "\r", "\t" or "\xNN"; C1 controls (U+0080-U+009F, which
///    some terminals read as escape sequences) and the bidirectional overrides and isolates
///    (U+202A-U+202E, U+2066-U+2069), plus U+2028/U+2029, become "\uNNNN";
///  - text longer than `max_bytes` after that is cut at a character boundary and ends with
///    U+2026 (the cut is always visible). A bound below 3 bytes yields "" for over-long text.
/// Backslashes are kept as they are (Windows paths stay readable), so an escape in the output may
/// also be the literal text; what matters is that no raw control character survives.
/// Clean text within the bound is returned unchanged. `info`, if given, says what changed.
std::string SanitizeText(std::string_view in, size_t max_bytes, SanitizeInfo* info = nullptr);

/// How SanitizeText classifies one character of untrusted text; shared with renderings that spell
/// escapes their own way (portwatchctl's and the status page's text::CleanText), so that every
/// place agrees on what is valid UTF-8 and what must not reach a terminal raw.
enum class TextPieceKind : uint8_t {
  kPlain,          ///< a well-formed character shown as it is
  kInvalid,        ///< one byte that is not part of a well-formed UTF-8 sequence (show U+FFFD)
  kControl,        ///< a C0 control or DEL (code point below 0x80)
  kUnicodeEscape,  ///< C1 control, bidirectional override or isolate, U+2028 or U+2029
};
struct TextPiece {
  TextPieceKind kind = TextPieceKind::kPlain;
  size_t length = 1;        ///< bytes of `in` it covers (1 for kInvalid)
  uint32_t code_point = 0;  ///< for all but kInvalid
};
/// The character of `in` starting at byte `i` (< in.size()).
TextPiece NextTextPiece(std::string_view in, size_t i);

/// True when SanitizeText would return `in` unchanged.
bool IsCleanText(std::string_view in, size_t max_bytes);

/// Bounds for the text fields of a report, shared by the agent (which bounds at the source) and
/// the collector (which bounds again, as it trusts no agent).
inline constexpr size_t kMaxProcessNameBytes = 256;   ///< comm is 16 bytes; image names are short
inline constexpr size_t kMaxProgramBytes = 1024;      ///< argv[0] / image path
inline constexpr size_t kMaxTextFieldBytes = 4096;    ///< anything else (reasons, values)

}  // namespace portwatch

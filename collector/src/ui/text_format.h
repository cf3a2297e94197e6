// Text for people from untrusted input and from times: shared by the status page and portwatchctl.
// Everything an agent controls (host, process and destination names, versions, setting values)
// goes through CleanText before it is shown: bounded, valid UTF-8, no control characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portwatch::text {

/// At most `max_bytes` of `in` (cut at a character boundary, "…" appended when cut), with invalid
/// UTF-8 replaced by U+FFFD, C0 controls and DEL shown as "\xnn" and C1 controls, bidirectional
/// overrides and isolates and U+2028/U+2029 as "\unnnn", so a name can neither move a terminal's
/// cursor, reorder what follows it nor break a line of output. What counts as each is
/// portwatch::SanitizeText's rule (NextTextPiece); only the spelling differs.
std::string CleanText(std::string_view in, size_t max_bytes = 256);

/// CleanText, then HTML-escaped (& < > " '): safe in element text and quoted attributes.
std::string Html(std::string_view in, size_t max_bytes = 256);

/// Percent-encodes everything but unreserved characters, for a name inside a URL path or query.
std::string UrlComponent(std::string_view in);

/// A duration for people: "40 s", "25 min", "3 h", "2 d" (rounded, at least "0 s").
std::string Span(double seconds);

/// "in 3 h" for a future time, "3 h ago" for a past one, relative to `now_unix_ms`.
std::string Relative(int64_t unix_ms, int64_t now_unix_ms);

/// "2026-12-01 14:02" in UTC (with `utc` true) or the local time zone.
std::string DateTime(int64_t unix_ms, bool utc);

}  // namespace portwatch::text

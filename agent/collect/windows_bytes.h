// Small readers of raw Win32 data shared by the mapping files: little-endian DWORDs (MIB rows,
// registry data) and plain decimal digits (event times, bookmark event ids).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace portwatch::agent::win {

inline uint32_t LoadDword(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

/// `s` as a decimal number of at most `max_digits` digits, digits only; false otherwise.
inline bool ParseDigits(std::string_view s, size_t max_digits, int64_t* out) {
  if (s.empty() || s.size() > max_digits) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace portwatch::agent::win

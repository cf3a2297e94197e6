#include "portwatch/units.h"

#include <cctype>
#include <limits>
#include <utility>

namespace portwatch {
namespace {

// Splits "123unit" into its number and unit; false when there are no digits, too many, or the
// number does not fit in 64 bits. Nine digits is enough for any flag and keeps overflow away.
bool SplitNumberUnit(const std::string& text, uint64_t* number, std::string* unit) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 9) return false;
  *number = std::stoull(text.substr(0, i));
  *unit = text.substr(i);
  return true;
}

// Multiplies without overflow; false when the product does not fit in an int64.
bool ScaleChecked(uint64_t number, uint64_t factor, uint64_t* out) {
  if (factor != 0 && number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / factor) {
    return false;
  }
  *out = number * factor;
  return true;
}

}  // namespace

Expected<int64_t> ParseDurationMs(const std::string& text, const std::string& what) {
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  uint64_t n = 0, ms = 0;
  std::string unit;
  if (SplitNumberUnit(text, &n, &unit)) {
    for (const auto& [name, factor] : kUnits) {
      if (unit == name && ScaleChecked(n, factor, &ms)) return static_cast<int64_t>(ms);
    }
  }
  return Status::Error(what + " '" + text +
                       "' is not a duration; write digits and a unit (ms, s, m, h, d), e.g. 15s, "
                       "500ms or 7d");
}

Expected<uint64_t> ParseByteSize(const std::string& text, const std::string& what) {
  static const std::pair<const char*, uint64_t> kUnits[] = {{"", 1},           {"B", 1},
                                                            {"K", 1ull << 10}, {"KiB", 1ull << 10},
                                                            {"M", 1ull << 20}, {"MiB", 1ull << 20},
                                                            {"G", 1ull << 30}, {"GiB", 1ull << 30}};
  uint64_t n = 0, bytes = 0;
  std::string unit;
  if (SplitNumberUnit(text, &n, &unit)) {
    for (const auto& [name, factor] : kUnits) {
      if (unit == name && ScaleChecked(n, factor, &bytes)) return bytes;
    }
  }
  return Status::Error(what + " '" + text +
                       "' is not a size; write digits and a unit (B, KiB, MiB, GiB), e.g. 64MiB");
}

}  // namespace portwatch

// The rotating log file's operations on Windows: UTF-16 paths, so a data directory with
// non-ASCII characters works.
#include <cstdio>

#include "portwatch/win32.h"
#include "src/log.h"

namespace portwatch::agent::logfile {

using win32::Wide;

bool Append(const std::string& path, const std::string& data) {
  FILE* f = _wfopen(Wide(path).c_str(), L"ab");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

uint64_t Size(const std::string& path) {
  WIN32_FILE_ATTRIBUTE_DATA a{};
  if (!GetFileAttributesExW(Wide(path).c_str(), GetFileExInfoStandard, &a)) return 0;
  return (static_cast<uint64_t>(a.nFileSizeHigh) << 32) | a.nFileSizeLow;
}

bool Replace(const std::string& from, const std::string& to) {
  return MoveFileExW(Wide(from).c_str(), Wide(to).c_str(), MOVEFILE_REPLACE_EXISTING) != 0;
}

void UtcTime(std::time_t t, std::tm* out) { gmtime_s(out, &t); }

}  // namespace portwatch::agent::logfile

// The rotating log file's operations on POSIX.
#include <sys/stat.h>

#include <cstdio>

#include "src/log.h"

namespace portwatch::agent::logfile {

bool Append(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

uint64_t Size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

bool Replace(const std::string& from, const std::string& to) {
  return std::rename(from.c_str(), to.c_str()) == 0;
}

void UtcTime(std::time_t t, std::tm* out) { gmtime_r(&t, out); }

}  // namespace portwatch::agent::logfile

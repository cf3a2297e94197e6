#include "src/agent_util.h"

#include "portwatch/units.h"

#include <cstdio>
#include <random>

namespace portwatch::agent {

Expected<int64_t> ParseIntervalMs(const std::string& text) {
  auto ms = ParseDurationMs(text, "--interval");
  if (!ms.ok()) return ms.status();
  if (*ms < 100 || *ms > 3600 * 1000) {
    return Status::Error("--interval '" + text +
                         "' must be a duration from 100ms to 1h, e.g. 15s or 500ms");
  }
  return ms;
}

std::string RandomHex(int bytes) {
  std::random_device rd;
  std::string s;
  char b[3];
  for (int i = 0; i < bytes; ++i) {
    std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(rd() & 0xff));
    s += b;
  }
  return s;
}

}  // namespace portwatch::agent

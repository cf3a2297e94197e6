#include "src/agent_util.h"

#include <cstdio>
#include <random>

namespace portwatch::agent {

bool ParseDurationMs(const std::string& text, int64_t* ms) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 9) return false;
  const int64_t v = std::stoll(text.substr(0, i));
  const std::string unit = text.substr(i);
  if (unit.empty() || unit == "s") {
    *ms = v * 1000;
  } else if (unit == "ms") {
    *ms = v;
  } else if (unit == "m") {
    *ms = v * 60000;
  } else {
    return false;
  }
  return true;
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

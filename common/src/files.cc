// Portable helpers; reading and writing files is per OS (files_posix.cc, files_windows.cc).
#include "portwatch/files.h"

#include <chrono>

namespace portwatch {

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Expected<HostPort> ParseHostPort(const std::string& text, const std::string& what) {
  const std::string hint = what + " '" + text + "' must look like HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";
  HostPort hp;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::Error(hint);
    }
    hp.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return Status::Error(hint);
    hp.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (hp.host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Error(hint);
  }
  unsigned long p = std::stoul(port);
  if (p > 65535) return Status::Error(what + " '" + text + "': port " + port + " is above 65535");
  hp.port = static_cast<uint16_t>(p);
  return hp;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace portwatch

// Small helpers shared by the agent's entry points (main.cc on Linux, windows/main_windows.cc).
#pragma once

#include <cstdint>
#include <string>

#include "portwatch/status.h"

namespace portwatch::agent {

/// The agent's --interval in milliseconds: a duration (see portwatch/units.h) from 100 ms to 1 h.
Expected<int64_t> ParseIntervalMs(const std::string& text);

/// `bytes` random bytes as lower-case hex (an agent instance id).
std::string RandomHex(int bytes);

}  // namespace portwatch::agent

// Small helpers shared by the agent's entry points (main.cc on Linux, windows/main_windows.cc).
#pragma once

#include <cstdint>
#include <string>

namespace portwatch::agent {

/// "15s", "500ms", "2m" or plain seconds, to milliseconds; false on anything else.
bool ParseDurationMs(const std::string& text, int64_t* ms);

/// `bytes` random bytes as lower-case hex (an agent instance id).
std::string RandomHex(int bytes);

}  // namespace portwatch::agent

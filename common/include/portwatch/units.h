// Parsing of the durations and sizes that flags and config files take ("15s", "7d", "64MiB").
#pragma once

#include <cstdint>
#include <string>

#include "portwatch/status.h"

namespace portwatch {

/// A duration as milliseconds: digits and a unit, one of ms, s, m, h, d ("500ms", "15s", "7d");
/// bare digits are seconds. `what` names the flag in the error, which gives an example.
Expected<int64_t> ParseDurationMs(const std::string& text, const std::string& what);

/// A size in bytes: digits and an optional unit, one of B, KiB, MiB, GiB (also K, M, G, which
/// mean the same powers of 1024). `what` names the flag in the error.
Expected<uint64_t> ParseByteSize(const std::string& text, const std::string& what);

}  // namespace portwatch

// The /proc/net/netstat and /proc/net/snmp parser on arbitrary text.
#include <cstdint>
#include <string>

#include "collect/proc_counters.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)portwatch::agent::ParseProcNetCounters(
      std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}

// The Windows MIB-row parser (iphlpapi table buffers to socket records) on arbitrary buffers. The
// first byte picks the row layout (its low two bits) and whether the table is a bound-endpoint
// table (bit 2); the rest is the buffer as GetExtendedTcpTable / GetTcpTable2 return it. Beyond
// not crashing: an accepted table yields exactly dwNumEntries records of the layout's family with
// peers only on connections; a refused one appends nothing.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "collect/windows_mapping.h"

namespace win = portwatch::agent::win;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto layout = static_cast<win::TcpRowLayout>(data[0] & 3);
  const bool bound_table = (data[0] & 4) != 0;
  const uint8_t* table = data + 1;
  const size_t len = size - 1;
  std::vector<portwatch::SocketEntry> out(1);  // what was there before must stay untouched
  const portwatch::Status st = win::ParseTcpTable(table, len, layout, bound_table, &out);
  if (!st.ok()) {
    if (out.size() != 1) std::abort();
    return 0;
  }
  const uint32_t n = static_cast<uint32_t>(table[0]) | static_cast<uint32_t>(table[1]) << 8 |
                     static_cast<uint32_t>(table[2]) << 16 | static_cast<uint32_t>(table[3]) << 24;
  if (out.size() != size_t{n} + 1) std::abort();
  for (size_t i = 1; i < out.size(); ++i) {
    const portwatch::SocketEntry& e = out[i];
    if (e.family != win::LayoutFamily(layout)) std::abort();
    if (bound_table && e.state != portwatch::TcpState::kBound) std::abort();
    const bool has_peer =
        e.state != portwatch::TcpState::kBound && e.state != portwatch::TcpState::kListen;
    if (!has_peer && (e.remote_port != 0 || e.remote_addr != decltype(e.remote_addr){})) {
      std::abort();
    }
  }
  return 0;
}

// Prints what the Windows agent's OS-neutral part of a scan costs: parsing GetExtendedTcpTable
// buffers (MIB_TCPROW_OWNER_PID / MIB_TCP6ROW_OWNER_PID) and building the summary and top-K
// lists from them, for tables of 1k to 100k rows. The Win32 calls themselves are not measured
// here (Wine's are not Windows'). Usage: windows_mapping_bench [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "collect/windows_mapping.h"
#include "src/summary.h"

namespace pa = portwatch::agent;
namespace win = portwatch::agent::win;

namespace {

// A table like a busy web server's: most rows TIME_WAIT or ESTABLISHED from ephemeral ports
// toward a few hundred destinations, owned by a few dozen processes.
std::vector<uint8_t> MakeTable(win::TcpRowLayout layout, uint32_t rows) {
  const win::TcpRowOffsets o = win::RowOffsets(layout);
  std::vector<uint8_t> b(win::kTableRowsOffset + size_t{rows} * o.size, 0);
  auto put = [&b](size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put(0, rows);
  for (uint32_t i = 0; i < rows; ++i) {
    const size_t r = win::kTableRowsOffset + size_t{i} * o.size;
    const uint32_t state = i % 10 < 6 ? win::kMibTcpStateTimeWait : win::kMibTcpStateEstab;
    put(r + o.state, state);
    b[r + o.local_addr] = 10;
    b[r + o.local_addr + 3] = 5;
    const uint16_t lport = static_cast<uint16_t>(49152 + i % 16384);
    b[r + o.local_port] = static_cast<uint8_t>(lport >> 8);
    b[r + o.local_port + 1] = static_cast<uint8_t>(lport);
    b[r + o.remote_addr] = 10;
    b[r + o.remote_addr + 2] = static_cast<uint8_t>(i % 300 / 256);
    b[r + o.remote_addr + 3] = static_cast<uint8_t>(i % 300);
    b[r + o.remote_port] = 0x05;  // 1433
    b[r + o.remote_port + 1] = 0x99;
    put(r + o.pid, state == win::kMibTcpStateTimeWait ? 0 : 1000 + i % 40);
  }
  return b;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 15;
  std::printf("%8s %14s %14s   (median of %d runs, ms)\n", "rows", "parse v4+v6", "+ summary",
              runs);
  pa::EphemeralPorts ports;
  ports.range = {49152, 65535};
  for (uint32_t rows : {1000u, 10000u, 100000u}) {
    const auto v4 = MakeTable(win::TcpRowLayout::kOwnerPid4, rows * 3 / 4);
    const auto v6 = MakeTable(win::TcpRowLayout::kOwnerPid6, rows - rows * 3 / 4);
    std::vector<double> parse_ms, total_ms;
    std::vector<portwatch::SocketEntry> sockets;
    portwatch::Report report;
    for (int i = 0; i < runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      sockets.clear();
      if (!win::ParseTcpTable(v4.data(), v4.size(), win::TcpRowLayout::kOwnerPid4, false, &sockets)
               .ok() ||
          !win::ParseTcpTable(v6.data(), v6.size(), win::TcpRowLayout::kOwnerPid6, false, &sockets)
               .ok()) {
        std::fprintf(stderr, "windows_mapping_bench: the synthetic table did not parse\n");
        return 1;
      }
      const auto t1 = std::chrono::steady_clock::now();
      pa::BuildUsage(sockets, ports, nullptr, pa::UsageOptions{}, &report);
      const auto t2 = std::chrono::steady_clock::now();
      parse_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      total_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    }
    std::printf("%8u %14.2f %14.2f\n", rows, Median(parse_ms), Median(total_ms));
  }
  return 0;
}

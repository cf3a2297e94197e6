// Records the raw TCP table buffers iphlpapi returns, byte for byte, for the MIB-row parser's
// fuzzing seeds (fuzz/corpus/windows_tables): GetExtendedTcpTable(TCP_TABLE_OWNER_PID_ALL) for
// IPv4 and IPv6 (MIB_TCPROW_OWNER_PID, MIB_TCP6ROW_OWNER_PID) and GetTcpTable2 / GetTcp6Table2
// (MIB_TCPROW2, MIB_TCP6ROW2). Not part of the build; see agent/testdata/README.md for how the
// files in this directory were recorded.
//
//   x86_64-w64-mingw32-g++-posix -O1 -static -o record_tcp_tables.exe record_tcp_tables.cc \
//       -liphlpapi -lws2_32
//   record_tcp_tables.exe OUT_DIR
#include <iphlpapi.h>
#include <winsock2.h>
#include <ws2tcpip.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

// The size query, then the fetch, again while the table grows in between.
template <typename Fetch>
bool Record(const std::string& path, Fetch fetch) {
  std::vector<unsigned char> buf(4);
  ULONG size = 0;
  DWORD rc = fetch(nullptr, &size);
  for (int attempt = 0; attempt < 5 && rc == ERROR_INSUFFICIENT_BUFFER; ++attempt) {
    buf.resize(size);
    rc = fetch(buf.data(), &size);
  }
  if (rc != NO_ERROR) {
    std::fprintf(stderr, "%s: error %lu\n", path.c_str(), static_cast<unsigned long>(rc));
    return false;
  }
  buf.resize(size);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(buf.data(), 1, buf.size(), f) != buf.size() ||
      std::fclose(f) != 0) {
    std::fprintf(stderr, "%s: cannot write\n", path.c_str());
    return false;
  }
  std::printf("%s: %lu bytes\n", path.c_str(), static_cast<unsigned long>(buf.size()));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: record_tcp_tables OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;
  for (ULONG af : {AF_INET, AF_INET6}) {
    ok &= Record(dir + (af == AF_INET ? "/mib_tcprow_owner_pid.bin" : "/mib_tcp6row_owner_pid.bin"),
                 [af](void* b, ULONG* n) {
                   return GetExtendedTcpTable(b, n, FALSE, af, TCP_TABLE_OWNER_PID_ALL, 0);
                 });
  }
  ok &= Record(dir + "/mib_tcprow2.bin", [](void* b, ULONG* n) {
    return GetTcpTable2(static_cast<PMIB_TCPTABLE2>(b), n, FALSE);
  });
  ok &= Record(dir + "/mib_tcp6row2.bin", [](void* b, ULONG* n) {
    return GetTcp6Table2(static_cast<PMIB_TCP6TABLE2>(b), n, FALSE);
  });
  return ok ? 0 : 1;
}

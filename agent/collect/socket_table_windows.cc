// Windows socket table through iphlpapi: GetExtendedTcpTable (TCP_TABLE_OWNER_PID_ALL) for IPv4
// and IPv6 gives every connection and listener with its owning PID (it exists from XP SP2 /
// 2003 SP1 on, unlike GetTcpTable2). Bound-but-unconnected sockets are in neither table; the
// undocumented iphlpapi exports InternalGetBoundTcpEndpointTable / InternalGetBoundTcp6EndpointTable
// return them as MIB_TCPTABLE2 / MIB_TCP6TABLE2 allocated on a heap we pass. They are looked up at
// run time: where they are missing, bound sockets are reported as unknown, not as zero.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <iphlpapi.h>

#include <algorithm>
#include <cstddef>

#include "collect/socket_table.h"
#include "collect/windows_mapping.h"

namespace portwatch::agent {
namespace {

using win::TcpRowLayout;

// The OS-neutral parser reads rows by these offsets; a mismatch with the SDK is a compile error.
#define PW_CHECK_ROW(T, layout, state_f, laddr_f, lport_f, raddr_f, rport_f, pid_f)        \
  static_assert(sizeof(T) == win::RowOffsets(layout).size, #T " size");                 \
  static_assert(offsetof(T, state_f) == win::RowOffsets(layout).state, #T " state");    \
  static_assert(offsetof(T, laddr_f) == win::RowOffsets(layout).local_addr, #T " laddr"); \
  static_assert(offsetof(T, lport_f) == win::RowOffsets(layout).local_port, #T " lport"); \
  static_assert(offsetof(T, raddr_f) == win::RowOffsets(layout).remote_addr, #T " raddr"); \
  static_assert(offsetof(T, rport_f) == win::RowOffsets(layout).remote_port, #T " rport"); \
  static_assert(offsetof(T, pid_f) == win::RowOffsets(layout).pid, #T " pid")

PW_CHECK_ROW(MIB_TCPROW_OWNER_PID, TcpRowLayout::kOwnerPid4, dwState, dwLocalAddr, dwLocalPort,
             dwRemoteAddr, dwRemotePort, dwOwningPid);
PW_CHECK_ROW(MIB_TCP6ROW_OWNER_PID, TcpRowLayout::kOwnerPid6, dwState, ucLocalAddr, dwLocalPort,
             ucRemoteAddr, dwRemotePort, dwOwningPid);
PW_CHECK_ROW(MIB_TCPROW2, TcpRowLayout::kRow2v4, dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr,
             dwRemotePort, dwOwningPid);
PW_CHECK_ROW(MIB_TCP6ROW2, TcpRowLayout::kRow2v6, State, LocalAddr, dwLocalPort, RemoteAddr,
             dwRemotePort, dwOwningPid);
static_assert(offsetof(MIB_TCPTABLE_OWNER_PID, table) == win::kTableRowsOffset, "rows offset");
static_assert(offsetof(MIB_TCP6TABLE_OWNER_PID, table) == win::kTableRowsOffset, "rows offset");
static_assert(offsetof(MIB_TCPTABLE2, table) == win::kTableRowsOffset, "rows offset");
static_assert(offsetof(MIB_TCP6TABLE2, table) == win::kTableRowsOffset, "rows offset");
static_assert(win::kFetchTooSmall == ERROR_INSUFFICIENT_BUFFER, "size-query code");
static_assert(win::kFetchOk == NO_ERROR, "success code");
#undef PW_CHECK_ROW

// ULONG WINAPI InternalGetBound[6]TcpEndpointTable(PVOID* table, PVOID heap, ULONG heap_flags):
// allocates the table on `heap`; the caller frees it with HeapFree.
using BoundTableFn = ULONG(WINAPI*)(PVOID* table, PVOID heap, ULONG heap_flags);

class WindowsSocketTable final : public SocketTable {
 public:
  WindowsSocketTable() {
    HMODULE iphlpapi = GetModuleHandleW(L"iphlpapi.dll");
    if (iphlpapi != nullptr) {
      bound4_ = reinterpret_cast<BoundTableFn>(
          reinterpret_cast<void*>(GetProcAddress(iphlpapi, "InternalGetBoundTcpEndpointTable")));
      bound6_ = reinterpret_cast<BoundTableFn>(
          reinterpret_cast<void*>(GetProcAddress(iphlpapi, "InternalGetBoundTcp6EndpointTable")));
    }
  }

  Status Scan(std::vector<SocketEntry>* out) override {
    out->clear();
    Status s = ReadOwnerPidTable(AF_INET, TcpRowLayout::kOwnerPid4, "IPv4 TCP table", out);
    if (!s.ok()) return s;
    s = ReadOwnerPidTable(AF_INET6, TcpRowLayout::kOwnerPid6, "IPv6 TCP table", out);
    if (!s.ok()) return s;
    ReadBoundTables(out);
    return Status::Ok();
  }

  std::string MissingFromScan() const override { return bound_.available ? "" : bound_.reason; }

 private:
  static Status ReadOwnerPidTable(ULONG family, TcpRowLayout layout, const char* what,
                                  std::vector<SocketEntry>* out) {
    auto buf = win::FetchTable(
        [family](std::vector<uint8_t>* b, uint32_t* size) -> uint32_t {
          DWORD n = *size;
          // bOrder FALSE: sorting costs the OS time and the summary does not need it.
          DWORD rc = GetExtendedTcpTable(b->data(), &n, FALSE, family, TCP_TABLE_OWNER_PID_ALL, 0);
          if (rc == ERROR_NOT_SUPPORTED && family == AF_INET6) {
            // No IPv6 stack on this host: an empty IPv6 table, not a failed scan.
            std::fill(b->begin(), b->begin() + win::kTableRowsOffset, 0);
            *size = win::kTableRowsOffset;
            return NO_ERROR;
          }
          *size = n;
          return rc;
        },
        what);
    if (!buf.ok()) return buf.status();
    return win::ParseTcpTable(buf->data(), buf->size(), layout, false, out);
  }

  void ReadBoundTables(std::vector<SocketEntry>* out) {
    if (bound4_ == nullptr || bound6_ == nullptr) {
      bound_ = {false,
                "this Windows has no InternalGetBoundTcpEndpointTable / "
                "InternalGetBoundTcp6EndpointTable in iphlpapi.dll, so bound-only sockets "
                "(state BOUND) cannot be counted: their count is unknown, not zero"};
      return;
    }
    std::string failed;
    ReadBound(bound4_, TcpRowLayout::kRow2v4, "IPv4", out, &failed);
    ReadBound(bound6_, TcpRowLayout::kRow2v6, "IPv6", out, &failed);
    bound_ = failed.empty() ? win::BoundTableStatus{true, ""}
                            : win::BoundTableStatus{false, failed};
  }

  static void ReadBound(BoundTableFn fn, TcpRowLayout layout, const char* family,
                        std::vector<SocketEntry>* out, std::string* failed) {
    HANDLE heap = GetProcessHeap();
    PVOID table = nullptr;
    ULONG rc = fn(&table, heap, 0);
    if (rc != NO_ERROR || table == nullptr) {
      *failed += std::string(failed->empty() ? "" : "; ") + "the " + family +
                 " bound endpoint table could not be read (error " + std::to_string(rc) +
                 "): bound-only sockets are not counted";
      return;
    }
    // The export allocates exactly the rows it reports; the size comes from the entry count.
    const auto* bytes = static_cast<const uint8_t*>(table);
    const DWORD n = *static_cast<const DWORD*>(table);
    const size_t len = win::kTableRowsOffset + size_t{n} * win::RowOffsets(layout).size;
    const size_t heap_size = HeapSize(heap, 0, table);
    Status s = heap_size != static_cast<size_t>(-1) && heap_size < len
                   ? Status::Error("bound table smaller than its entry count")
                   : win::ParseTcpTable(bytes, len, layout, true, out);
    HeapFree(heap, 0, table);
    if (!s.ok()) *failed += std::string(failed->empty() ? "" : "; ") + family + ": " + s.message();
  }

  BoundTableFn bound4_ = nullptr;
  BoundTableFn bound6_ = nullptr;
  win::BoundTableStatus bound_;
};

}  // namespace

std::unique_ptr<SocketTable> MakeSocketTable() { return std::make_unique<WindowsSocketTable>(); }

}  // namespace portwatch::agent

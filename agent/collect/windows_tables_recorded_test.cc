// The MIB-row parser on table buffers recorded from the real iphlpapi calls (under Wine, which
// answers them from the Linux host's socket table; testdata/README.md says how): the loopback
// sockets the recording opened on port 45002 come back with their states and endpoints. The
// hand-laid buffers in windows_mapping_test.cc cover what Wine cannot show (owner PIDs, bound
// tables). Linux builds only: the recordings are read from the source tree.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "collect/windows_mapping.h"
#include "portwatch/files.h"

namespace portwatch::agent::win {
namespace {

std::vector<SocketEntry> ParseRecorded(const std::string& name, TcpRowLayout layout) {
  auto bytes = ReadFileLimited(std::string(PORTWATCH_FIXTURES) + "/windows/" + name, 1 << 16,
                               "recorded table");
  EXPECT_TRUE(bytes.ok()) << bytes.error();
  std::vector<SocketEntry> out;
  if (!bytes.ok()) return out;
  Status st = ParseTcpTable(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), layout,
                            false, &out);
  EXPECT_TRUE(st.ok()) << name << ": " << st.message();
  return out;
}

// The loopback sockets on port 45002 by state: a listener, two connections both ways, one
// closed by the client (TIME_WAIT), one by the server (FIN_WAIT2 / CLOSE_WAIT), and leftovers in
// TIME_WAIT from an earlier run of the recording.
std::map<TcpState, int> States(const std::vector<SocketEntry>& rows) {
  std::map<TcpState, int> n;
  for (const SocketEntry& e : rows) {
    if (e.local_port == 45002 || e.remote_port == 45002) ++n[e.state];
  }
  return n;
}
const std::map<TcpState, int> kRecordedStates = {{TcpState::kListen, 1},
                                                 {TcpState::kEstablished, 2},
                                                 {TcpState::kTimeWait, 3},
                                                 {TcpState::kFinWait2, 2},
                                                 {TcpState::kCloseWait, 2}};

std::string Local(const SocketEntry& e) {
  return Endpoint{e.family, e.local_addr, e.local_port}.ToString();
}
std::string Remote(const SocketEntry& e) {
  return Endpoint{e.family, e.remote_addr, e.remote_port}.ToString();
}

struct Recording {
  const char* file;
  TcpRowLayout layout;
  size_t rows;
  std::string listener;  // the first row
  size_t connection;     // a row of an established connection to the listener
  std::string connection_local;
};

TEST(RecordedTcpTable, EveryLayoutHoldsTheRecordedLoopbackSockets) {
  const Recording recordings[] = {
      {"mib_tcprow_owner_pid.bin", TcpRowLayout::kOwnerPid4, 11, "127.0.0.1:45002", 4,
       "127.0.0.1:43684"},
      {"mib_tcprow2.bin", TcpRowLayout::kRow2v4, 11, "127.0.0.1:45002", 4, "127.0.0.1:43684"},
      {"mib_tcp6row_owner_pid.bin", TcpRowLayout::kOwnerPid6, 10, "[::1]:45002", 7, "[::1]:60800"},
      {"mib_tcp6row2.bin", TcpRowLayout::kRow2v6, 10, "[::1]:45002", 7, "[::1]:60800"},
  };
  for (const Recording& r : recordings) {
    SCOPED_TRACE(r.file);
    const std::vector<SocketEntry> rows = ParseRecorded(r.file, r.layout);
    ASSERT_EQ(rows.size(), r.rows);
    EXPECT_EQ(States(rows), kRecordedStates);
    EXPECT_EQ(rows[0].family, LayoutFamily(r.layout));
    EXPECT_EQ(rows[0].state, TcpState::kListen);
    EXPECT_EQ(Local(rows[0]), r.listener);
    EXPECT_EQ(rows[0].remote_port, 0);
    EXPECT_EQ(rows[r.connection].state, TcpState::kEstablished);
    EXPECT_EQ(Local(rows[r.connection]), r.connection_local);
    EXPECT_EQ(Remote(rows[r.connection]), r.listener);
    EXPECT_EQ(rows[r.connection].owner_pid, 0u);  // Wine does not know owners
  }
}

}  // namespace
}  // namespace portwatch::agent::win

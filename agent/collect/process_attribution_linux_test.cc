#include "collect/process_attribution_linux.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "collect/socket_table.h"
#include "portwatch/text.h"

namespace portwatch::agent {
namespace {

namespace fs = std::filesystem;

// A /proc look-alike: PID directories with comm, cmdline and fd symlinks "socket:[N]".
class FakeProcTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("pw_attr_" + std::to_string(getpid()));
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddProcess(uint32_t pid, const std::string& comm, const std::string& argv0) {
    fs::path d = root_ / std::to_string(pid);
    fs::create_directories(d / "fd");
    std::ofstream(d / "comm") << comm << "\n";
    std::ofstream(d / "cmdline") << argv0 << std::string(1, '\0') << "--flag" << std::string(1, '\0');
  }
  void AddSocketFd(uint32_t pid, int fd, uint64_t inode) {
    fs::create_symlink("socket:[" + std::to_string(inode) + "]",
                       root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  static SocketEntry Sock(uint64_t inode) {
    SocketEntry e;
    e.state = TcpState::kEstablished;
    e.inode = inode;
    return e;
  }
  fs::path root_;
};

TEST_F(FakeProcTree, AttributesAndNamesOwners) {
  AddProcess(100, "nginx", "/usr/sbin/nginx");
  AddSocketFd(100, 3, 5001);
  AddSocketFd(100, 4, 5002);
  AddProcess(200, "python3", "/usr/bin/python3");
  AddSocketFd(200, 7, 6001);
  fs::create_symlink("/dev/null", root_ / "200" / "fd" / "0");  // not a socket
  fs::create_directories(root_ / "self");                        // not a PID
  auto attr = MakeLinuxProcessAttribution(root_.string());
  std::vector<SocketEntry> v = {Sock(5001), Sock(6001), Sock(5002), Sock(9999), Sock(0)};
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(v[0].owner_pid, 100u);
  EXPECT_EQ(v[1].owner_pid, 200u);
  EXPECT_EQ(v[2].owner_pid, 100u);
  EXPECT_EQ(v[3].owner_pid, 0u);  // owner not found: unattributed, not dropped
  EXPECT_EQ(v[4].owner_pid, 0u);  // TIME_WAIT sockets have no inode
  EXPECT_EQ(attr->last_stats().unresolved, 1u);
  ASSERT_NE(attr->Info(100), nullptr);
  EXPECT_EQ(attr->Info(100)->name, "nginx");
  EXPECT_EQ(attr->Info(100)->program, "/usr/sbin/nginx");
  EXPECT_EQ(attr->Info(12345), nullptr);
}

TEST_F(FakeProcTree, SteadyStateReadsNoProcessAgain) {
  for (uint32_t pid = 100; pid < 150; ++pid) {
    AddProcess(pid, "worker", "/bin/worker");
    AddSocketFd(pid, 3, 1000 + pid);
  }
  auto attr = MakeLinuxProcessAttribution(root_.string());
  std::vector<SocketEntry> v;
  for (uint32_t pid = 100; pid < 150; ++pid) v.push_back(Sock(1000 + pid));
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(attr->last_stats().pids_scanned, 50u);
  // Same sockets again: everything comes from the cache.
  for (auto& e : v) e.owner_pid = 0;
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(attr->last_stats().pids_scanned, 0u);
  for (const auto& e : v) EXPECT_EQ(e.owner_pid, e.inode - 1000);

  // A new process with a new socket: only that process is read.
  AddProcess(300, "newcomer", "/bin/newcomer");
  AddSocketFd(300, 5, 7777);
  v.push_back(Sock(7777));
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(attr->last_stats().pids_scanned, 1u);
  EXPECT_EQ(v.back().owner_pid, 300u);

  // A known process opens another socket: found among socket owners, without reading all.
  AddSocketFd(120, 9, 8888);
  v.push_back(Sock(8888));
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(v.back().owner_pid, 120u);
  EXPECT_LE(attr->last_stats().pids_scanned, 51u);

  // A socket nobody owns is searched for once, then not on every scan.
  v.push_back(Sock(4242));
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(attr->last_stats().pids_scanned, 51u);
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(attr->last_stats().pids_scanned, 0u);
  EXPECT_EQ(attr->last_stats().unresolved, 1u);
}

TEST_F(FakeProcTree, ExitedProcessesAreForgotten) {
  AddProcess(100, "short", "/bin/short");
  AddSocketFd(100, 3, 5001);
  auto attr = MakeLinuxProcessAttribution(root_.string());
  std::vector<SocketEntry> v = {Sock(5001)};
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(v[0].owner_pid, 100u);
  fs::remove_all(root_ / "100");
  v[0].owner_pid = 0;
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(v[0].owner_pid, 0u);
  EXPECT_EQ(attr->Info(100), nullptr);
}

TEST(LiveAttribution, FindsThisProcessSocket) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const uint16_t port = ntohs(a.sin_port);
  std::vector<SocketEntry> v;
  ASSERT_TRUE(MakeSocketTable()->Scan(&v).ok());
  auto attr = MakeLinuxProcessAttribution("/proc");
  ASSERT_TRUE(attr->Attribute(&v).ok());
  bool found = false;
  for (const auto& e : v) {
    if (e.state == TcpState::kListen && e.local_port == port) {
      found = true;
      EXPECT_EQ(e.owner_pid, static_cast<uint32_t>(getpid()));
      EXPECT_EQ(e.backlog, 4u);
    }
  }
  EXPECT_TRUE(found);
  ::close(fd);
}

// Any local user names their processes: a comm that is not UTF-8 or carries terminal escapes,
// and an argv[0] far longer than a page, come out bounded, valid and escaped, and the sockets are
// still attributed.
TEST_F(FakeProcTree, HostileNamesAreBoundedAndSanitizedAtTheSource) {
  AddProcess(300, "bad\xFF\xFE\x1B[2J", std::string(5000, 'A') + "\n\xC0");
  AddSocketFd(300, 3, 7001);
  auto attr = MakeLinuxProcessAttribution(root_.string());
  std::vector<SocketEntry> v = {Sock(7001)};
  ASSERT_TRUE(attr->Attribute(&v).ok());
  EXPECT_EQ(v[0].owner_pid, 300u);
  const ProcessInfo* info = attr->Info(300);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->name, "bad\xEF\xBF\xBD\xEF\xBF\xBD\\x1B[2J");
  EXPECT_LE(info->program.size(), kMaxProgramBytes);
  EXPECT_EQ(info->program.substr(0, 4), "AAAA");
  EXPECT_EQ(info->program.substr(info->program.size() - 3), "\xE2\x80\xA6");
  EXPECT_TRUE(IsCleanText(info->name, kMaxProcessNameBytes));
  EXPECT_TRUE(IsCleanText(info->program, kMaxProgramBytes));
}

}  // namespace
}  // namespace portwatch::agent

#include "collect/event_source_linux.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "collect/kmsg_lines.h"
#include "collect/proc_counters.h"

namespace portwatch::agent {
namespace {

namespace fs = std::filesystem;

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(PORTWATCH_FIXTURES) + "/" + name);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST(ProcCounters, ParsesRecordedFiles) {
  auto netstat = ParseProcNetCounters(Fixture("proc_net_netstat.txt"));
  ASSERT_TRUE(netstat.ok()) << netstat.error();
  EXPECT_TRUE(netstat->count("TcpExt.TCPTimeWaitOverflow"));
  EXPECT_TRUE(netstat->count("TcpExt.ListenOverflows"));
  EXPECT_TRUE(netstat->count("IpExt.InOctets"));
  auto snmp = ParseProcNetCounters(Fixture("proc_net_snmp.txt"));
  ASSERT_TRUE(snmp.ok()) << snmp.error();
  EXPECT_TRUE(snmp->count("Tcp.ActiveOpens"));
  EXPECT_EQ(snmp->at("Tcp.MaxConn"), static_cast<uint64_t>(-1));  // -1 kept, not an error
}

TEST(ProcCounters, MalformedAndTruncatedInputIsAnError) {
  const std::string good = "TcpExt: A B\nTcpExt: 1 2\n";
  auto ok = ParseProcNetCounters(good);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->at("TcpExt.B"), 2u);
  for (const char* bad : {"TcpExt: A B\n", "TcpExt: A B\nTcpExt: 1\n", "TcpExt: A B\nIp: 1 2\n",
                          "TcpExt: A B\nTcpExt: 1 x\n", "TcpExt: A\nTcpExt: 99999999999999999999999\n",
                          "A B\n1 2\n"}) {
    auto r = ParseProcNetCounters(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  // Every truncation of the recorded file either parses or fails cleanly.
  const std::string rec = Fixture("proc_net_netstat.txt");
  for (size_t cut = 0; cut < rec.size(); cut += 7) (void)ParseProcNetCounters(rec.substr(0, cut));
}

TEST(Kmsg, RecognisesTroubleLines) {
  EXPECT_EQ(KmsgCounterFor("TCP: time wait bucket table overflow"), "kmsg.tcp_tw_bucket_overflow");
  EXPECT_EQ(KmsgCounterFor("TCP: request_sock_TCP: Possible SYN flooding on port [::]:443. "
                           "Sending cookies."),
            "kmsg.tcp_syn_flood");
  EXPECT_EQ(KmsgCounterFor("eth0: link up"), "");
  EXPECT_EQ(KmsgRecordMessage("6,1234,5678,-;hello\n SUBSYSTEM=net"), "hello");
  EXPECT_EQ(KmsgRecordMessage("garbage"), "");
}

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("pw_events_" + std::to_string(getpid()));
    fs::create_directories(root_ / "proc/net");
    std::ofstream(root_ / "proc/net/netstat") << Fixture("proc_net_netstat.txt");
    std::ofstream(root_ / "proc/net/snmp") << Fixture("proc_net_snmp.txt");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(FakeProc, CountsKernelLinesIncrementally) {
  const fs::path kmsg = root_ / "kmsg";
  std::ofstream(kmsg) << "4,100,5000,-;TCP: time wait bucket table overflow\n"
                      << "6,101,5001,-;something else\n"
                      << "4,102,5002,-;TCP: request_sock_TCP: Possible SYN flooding on port "
                         "8080. Sending cookies.\n SUBSYSTEM=net\n";
  auto src = MakeLinuxEventSource(root_.string(), kmsg.string());
  EventCounts ev;
  ASSERT_TRUE(src->Read(&ev).ok());
  EXPECT_FALSE(ev.degraded);
  auto value = [&](const std::string& name) -> int64_t {
    for (const auto& c : ev.counters) {
      if (c.name == name) return static_cast<int64_t>(c.value);
    }
    return -1;
  };
  EXPECT_EQ(value("kmsg.tcp_tw_bucket_overflow"), 1);
  EXPECT_EQ(value("kmsg.tcp_syn_flood"), 1);
  EXPECT_GE(value("TcpExt.ListenOverflows"), 0);
  EXPECT_GE(value("Tcp.ActiveOpens"), 0);
  EXPECT_EQ(value("IpExt.InOctets"), -1);  // only the TCP trouble counters travel
  // Sorted by name, as the model requires.
  for (size_t i = 1; i < ev.counters.size(); ++i) {
    EXPECT_LT(ev.counters[i - 1].name, ev.counters[i].name);
  }
  // New lines are counted once; old ones are not counted again.
  std::ofstream(kmsg, std::ios::app) << "4,103,6000,-;TCP: time wait bucket table overflow\n";
  ASSERT_TRUE(src->Read(&ev).ok());
  EXPECT_EQ(value("kmsg.tcp_tw_bucket_overflow"), 2);
  EXPECT_EQ(value("kmsg.tcp_syn_flood"), 1);
}

TEST_F(FakeProc, UnreadableKernelLogIsDegradedNotFatal) {
  auto src = MakeLinuxEventSource(root_.string(), (root_ / "no-such-kmsg").string());
  EventCounts ev;
  ASSERT_TRUE(src->Read(&ev).ok());
  EXPECT_TRUE(ev.degraded);
  EXPECT_NE(ev.degraded_reason.find("CAP_SYSLOG"), std::string::npos) << ev.degraded_reason;
  for (const auto& c : ev.counters) EXPECT_NE(c.name.rfind("kmsg.", 0), 0u) << c.name;
  EXPECT_FALSE(ev.counters.empty());  // /proc counters still arrive
}

TEST_F(FakeProc, BrokenProcFileIsAnError) {
  std::ofstream(root_ / "proc/net/snmp") << "Tcp: A B\nTcp: 1\n";
  auto src = MakeLinuxEventSource(root_.string(), (root_ / "none").string());
  EventCounts ev;
  Status s = src->Read(&ev);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/net/snmp"), std::string::npos) << s.message();
}

TEST(LiveEvents, ReadsThisKernel) {
  auto src = MakeEventSource();
  EventCounts ev;
  ASSERT_TRUE(src->Read(&ev).ok());
  bool active_opens = false;
  for (const auto& c : ev.counters) active_opens |= c.name == "Tcp.ActiveOpens";
  EXPECT_TRUE(active_opens);
}

}  // namespace
}  // namespace portwatch::agent

// The Windows mapping on recorded inputs: table buffers laid out byte for byte as iphlpapi
// returns them, registry values as RegQueryValueEx returns them, and event XML as EvtRender
// returns it. Runs on every OS.
#include "collect/windows_mapping.h"

#include <gtest/gtest.h>

#include <cstring>

#include "portwatch/text.h"
#include "portwatch/utf16.h"

namespace portwatch::agent::win {
namespace {

// ---- Socket tables ------------------------------------------------------------------------------

void PutDword(std::vector<uint8_t>* b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
// As Windows stores it: network byte order in the DWORD's first two bytes.
void PutPort(std::vector<uint8_t>* b, size_t off, uint16_t port) {
  (*b)[off] = static_cast<uint8_t>(port >> 8);
  (*b)[off + 1] = static_cast<uint8_t>(port);
}

struct Row {
  uint32_t state;
  std::vector<uint8_t> laddr;
  uint16_t lport;
  std::vector<uint8_t> raddr;
  uint16_t rport;
  uint32_t pid;
};

std::vector<uint8_t> Table(TcpRowLayout layout, const std::vector<Row>& rows) {
  const TcpRowOffsets o = RowOffsets(layout);
  std::vector<uint8_t> b(kTableRowsOffset + rows.size() * o.size, 0xEE);  // garbage padding
  PutDword(&b, 0, static_cast<uint32_t>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t base = kTableRowsOffset + i * o.size;
    PutDword(&b, base + o.state, rows[i].state);
    std::memcpy(&b[base + o.local_addr], rows[i].laddr.data(), rows[i].laddr.size());
    PutDword(&b, base + o.local_port, 0);
    PutPort(&b, base + o.local_port, rows[i].lport);
    std::memcpy(&b[base + o.remote_addr], rows[i].raddr.data(), rows[i].raddr.size());
    PutDword(&b, base + o.remote_port, 0);
    PutPort(&b, base + o.remote_port, rows[i].rport);
    PutDword(&b, base + o.pid, rows[i].pid);
  }
  return b;
}

const std::vector<uint8_t> kV4Local = {10, 0, 0, 5};
const std::vector<uint8_t> kV4Remote = {10, 0, 4, 12};
const std::vector<uint8_t> kV6Local = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const std::vector<uint8_t> kV6Remote = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
const std::vector<uint8_t> kAny4 = {0, 0, 0, 0};

TEST(MibTcpState, MapsEveryWindowsState) {
  EXPECT_EQ(MibTcpState(kMibTcpStateClosed), TcpState::kClose);
  EXPECT_EQ(MibTcpState(kMibTcpStateListen), TcpState::kListen);
  EXPECT_EQ(MibTcpState(kMibTcpStateSynSent), TcpState::kSynSent);
  EXPECT_EQ(MibTcpState(kMibTcpStateSynRcvd), TcpState::kSynRecv);
  EXPECT_EQ(MibTcpState(kMibTcpStateEstab), TcpState::kEstablished);
  EXPECT_EQ(MibTcpState(kMibTcpStateFinWait1), TcpState::kFinWait1);
  EXPECT_EQ(MibTcpState(kMibTcpStateFinWait2), TcpState::kFinWait2);
  EXPECT_EQ(MibTcpState(kMibTcpStateCloseWait), TcpState::kCloseWait);
  EXPECT_EQ(MibTcpState(kMibTcpStateClosing), TcpState::kClosing);
  EXPECT_EQ(MibTcpState(kMibTcpStateLastAck), TcpState::kLastAck);
  EXPECT_EQ(MibTcpState(kMibTcpStateTimeWait), TcpState::kTimeWait);
  EXPECT_EQ(MibTcpState(kMibTcpStateDeleteTcb), TcpState::kDeleteTcb);
  EXPECT_EQ(MibTcpState(kMibTcpStateReserved), TcpState::kBound);
  EXPECT_EQ(MibTcpState(0), TcpState::kUnknown);
  EXPECT_EQ(MibTcpState(13), TcpState::kUnknown);
}

TEST(TcpTable, ParsesOwnerPidRowsV4) {
  auto buf = Table(TcpRowLayout::kOwnerPid4,
                   {{kMibTcpStateEstab, kV4Local, 50123, kV4Remote, 1433, 4242},
                    {kMibTcpStateSynSent, kV4Local, 50124, kV4Remote, 1433, 4242},
                    {kMibTcpStateListen, kAny4, 80, {9, 9, 9, 9}, 7, 4},
                    {kMibTcpStateTimeWait, kV4Local, 50125, kV4Remote, 1433, 0}});
  std::vector<SocketEntry> out;
  ASSERT_TRUE(ParseTcpTable(buf.data(), buf.size(), TcpRowLayout::kOwnerPid4, false, &out).ok());
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].family, Family::kIpv4);
  EXPECT_EQ(out[0].state, TcpState::kEstablished);
  EXPECT_EQ(out[0].local_port, 50123);
  EXPECT_EQ(out[0].remote_port, 1433);
  EXPECT_EQ(out[0].owner_pid, 4242u);
  Endpoint remote{Family::kIpv4, out[0].remote_addr, out[0].remote_port};
  EXPECT_EQ(remote.ToString(), "10.0.4.12:1433");
  EXPECT_EQ(out[1].state, TcpState::kSynSent);
  // A listener's remote fields hold leftovers on Windows; they are not a peer.
  EXPECT_EQ(out[2].state, TcpState::kListen);
  EXPECT_EQ(out[2].remote_port, 0);
  EXPECT_EQ(out[2].remote_addr, (std::array<uint8_t, 16>{}));
  EXPECT_EQ(out[2].owner_pid, 4u);
  EXPECT_EQ(out[3].state, TcpState::kTimeWait);
  EXPECT_EQ(out[3].owner_pid, 0u);
}

TEST(TcpTable, ParsesRow2V6AndTheOwnerPidV6Layout) {
  for (TcpRowLayout layout : {TcpRowLayout::kRow2v6, TcpRowLayout::kOwnerPid6}) {
    auto buf = Table(layout, {{kMibTcpStateFinWait2, kV6Local, 50200, kV6Remote, 443, 77},
                              {kMibTcpStateDeleteTcb, kV6Local, 50201, kV6Remote, 443, 77}});
    std::vector<SocketEntry> out;
    ASSERT_TRUE(ParseTcpTable(buf.data(), buf.size(), layout, false, &out).ok());
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].family, Family::kIpv6);
    EXPECT_EQ(out[0].state, TcpState::kFinWait2);
    EXPECT_EQ((Endpoint{Family::kIpv6, out[0].local_addr, out[0].local_port}).ToString(),
              "[2001:db8::1]:50200");
    EXPECT_EQ((Endpoint{Family::kIpv6, out[0].remote_addr, out[0].remote_port}).ToString(),
              "[2001:db8::2]:443");
    EXPECT_EQ(out[0].owner_pid, 77u);
    EXPECT_EQ(out[1].state, TcpState::kDeleteTcb);
  }
}

TEST(TcpTable, BoundTableRowsAreBoundWhateverTheirStateField) {
  // InternalGetBoundTcpEndpointTable returns MIB_TCPTABLE2 rows; their state field is not a MIB
  // state that says "bound" on every Windows build, so the table decides.
  auto v4 = Table(TcpRowLayout::kRow2v4, {{kMibTcpStateClosed, kV4Local, 50300, kAny4, 0, 900},
                                          {kMibTcpStateReserved, kV4Local, 50301, kAny4, 0, 900}});
  auto v6 = Table(TcpRowLayout::kRow2v6, {{kMibTcpStateReserved, kV6Local, 50302, kV6Remote, 9, 901}});
  std::vector<SocketEntry> out;
  ASSERT_TRUE(ParseTcpTable(v4.data(), v4.size(), TcpRowLayout::kRow2v4, true, &out).ok());
  ASSERT_TRUE(ParseTcpTable(v6.data(), v6.size(), TcpRowLayout::kRow2v6, true, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  for (const SocketEntry& e : out) {
    EXPECT_EQ(e.state, TcpState::kBound);
    EXPECT_EQ(e.remote_port, 0);
  }
  EXPECT_EQ(out[0].owner_pid, 900u);
  EXPECT_EQ(out[2].family, Family::kIpv6);
  EXPECT_EQ(out[2].local_port, 50302);
}

TEST(TcpTable, TruncatedBuffersAreRejectedWhole) {
  auto buf = Table(TcpRowLayout::kOwnerPid4,
                   {{kMibTcpStateEstab, kV4Local, 1, kV4Remote, 2, 3},
                    {kMibTcpStateEstab, kV4Local, 4, kV4Remote, 5, 6}});
  std::vector<SocketEntry> out;
  Status s = ParseTcpTable(buf.data(), buf.size() - 1, TcpRowLayout::kOwnerPid4, false, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("truncated"), std::string::npos);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(ParseTcpTable(buf.data(), 3, TcpRowLayout::kOwnerPid4, false, &out).ok());
  // A huge claimed count must not overflow the size check.
  PutDword(&buf, 0, 0xFFFFFFFFu);
  EXPECT_FALSE(ParseTcpTable(buf.data(), buf.size(), TcpRowLayout::kOwnerPid4, false, &out).ok());
  // An empty table is fine.
  std::vector<uint8_t> empty(4, 0);
  EXPECT_TRUE(ParseTcpTable(empty.data(), empty.size(), TcpRowLayout::kRow2v6, false, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(FetchTable, RetriesWhileTheTableGrowsThenGivesUp) {
  // The table grows by 1000 bytes between every size query and fetch, twice, then settles.
  uint32_t needed = 5000;
  int calls = 0;
  auto growing = [&](std::vector<uint8_t>* buf, uint32_t* size) -> uint32_t {
    ++calls;
    if (calls <= 2) needed += 10000;
    if (*size < needed) {
      *size = needed;
      return kFetchTooSmall;
    }
    *size = needed;
    (*buf)[needed - 1] = 0x42;
    return kFetchOk;
  };
  auto got = FetchTable(growing, "IPv4 TCP table");
  ASSERT_TRUE(got.ok()) << got.error();
  EXPECT_EQ(got->size(), needed);
  EXPECT_EQ(got->back(), 0x42);
  EXPECT_EQ(calls, 3);

  int forever_calls = 0;
  auto forever = [&](std::vector<uint8_t>*, uint32_t* size) -> uint32_t {
    ++forever_calls;
    *size += 1 << 20;
    return kFetchTooSmall;
  };
  auto gave_up = FetchTable(forever, "IPv6 TCP table");
  ASSERT_FALSE(gave_up.ok());
  EXPECT_EQ(forever_calls, kTableFetchAttempts);
  EXPECT_NE(gave_up.error().find("IPv6 TCP table"), std::string::npos);

  auto failing = [](std::vector<uint8_t>*, uint32_t*) -> uint32_t { return 87; };
  auto failed = FetchTable(failing, "IPv4 TCP table");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("error 87"), std::string::npos);
}

// ---- Registry ------------------------------------------------------------------------------------

RegistryRead Dword(uint32_t v) {
  RegistryRead r{true, kRegDword, std::vector<uint8_t>(4)};
  PutDword(&r.data, 0, v);
  return r;
}

RegistryRead Sz(const std::string& s) {
  RegistryRead r{true, kRegSz, {}};
  for (char16_t c : Utf8ToUtf16(s)) {
    r.data.push_back(static_cast<uint8_t>(c));
    r.data.push_back(static_cast<uint8_t>(c >> 8));
  }
  r.data.push_back(0);
  r.data.push_back(0);
  return r;
}

TEST(Registry, DwordQwordAbsentAndWrongTypes) {
  ConfigValue v = MapRegistryValue("Tcpip.TcpTimedWaitDelay", Dword(30));
  EXPECT_TRUE(v.present);
  EXPECT_EQ(v.type, ConfigValue::Type::kInt);
  EXPECT_EQ(v.int_value, 30);
  EXPECT_EQ(MapRegistryValue("Tcpip.MaxUserPort", Dword(0xFFFE)).int_value, 65534);
  // The full DWORD range is kept, not read as negative.
  EXPECT_EQ(MapRegistryValue("k", Dword(0xFFFFFFFFu)).int_value, 4294967295LL);

  RegistryRead q{true, kRegQword, std::vector<uint8_t>(8, 0)};
  PutDword(&q.data, 0, 5);
  PutDword(&q.data, 4, 1);
  EXPECT_EQ(MapRegistryValue("k", q).int_value, (int64_t{1} << 32) + 5);

  // Absent is not 0: the OS default applies.
  ConfigValue absent = MapRegistryValue("Tcpip.SynAttackProtect", RegistryRead{});
  EXPECT_FALSE(absent.present);
  EXPECT_EQ(absent.key, "Tcpip.SynAttackProtect");

  // A value typed by hand as a string: visible as what it is, not silently a number.
  ConfigValue sz = MapRegistryValue("Tcpip.TcpTimedWaitDelay", Sz("30"));
  EXPECT_TRUE(sz.present);
  EXPECT_EQ(sz.type, ConfigValue::Type::kString);
  EXPECT_EQ(sz.string_value, "REG_SZ: 30");

  RegistryRead short_dword{true, kRegDword, {1, 0}};
  ConfigValue s = MapRegistryValue("k", short_dword);
  EXPECT_EQ(s.type, ConfigValue::Type::kString);
  EXPECT_EQ(s.string_value, "REG_DWORD of 2 bytes");
  EXPECT_EQ(MapRegistryValue("k", RegistryRead{true, kRegBinary, {1, 2, 3}}).string_value,
            "REG_BINARY of 3 bytes");
  EXPECT_EQ(MapRegistryValue("k", RegistryRead{true, 99, {}}).string_value,
            "registry type 99 of 0 bytes");
}

TEST(Config, DynamicRangeFromWmiPrefersInternetAndSkipsEmptyTemplates) {
  std::vector<WmiPortSetting> tcp = {
      {"Automatic", false, 0, 0, false, 0, 0},
      {"Datacenter", true, 49152, 16384, true, 0, 0},
      {"Internet", true, 10000, 20000, true, 0, 0},
  };
  auto s = ChooseWmiPortSetting(tcp, "MSFT_NetTCPSetting");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->setting_name, "Internet");
  tcp.pop_back();
  EXPECT_EQ(ChooseWmiPortSetting(tcp, "MSFT_NetTCPSetting")->setting_name, "Datacenter");
  auto none = ChooseWmiPortSetting({{"Automatic", false, 0, 0, false, 0, 0},
                                    {"Bad", true, 65000, 1000, false, 0, 0}},
                                   "MSFT_NetUDPSetting");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("MSFT_NetUDPSetting"), std::string::npos);

  EXPECT_EQ(*RangeFromStartAndCount(49152, 16384), (PortRange{49152, 65535}));
  EXPECT_FALSE(RangeFromStartAndCount(49152, 16385).ok());
  EXPECT_FALSE(RangeFromStartAndCount(0, 10).ok());
}

TEST(Config, MaxUserPortForPreVistaHosts) {
  ConfigValue absent;
  absent.key = "Tcpip.MaxUserPort";
  EXPECT_EQ(*MaxUserPortRange(absent), (PortRange{1025, 5000}));
  ConfigValue v = MapRegistryValue("Tcpip.MaxUserPort", Dword(65534));
  EXPECT_EQ(*MaxUserPortRange(v), (PortRange{1025, 65534}));
  auto low = MaxUserPortRange(MapRegistryValue("Tcpip.MaxUserPort", Dword(4000)));
  ASSERT_FALSE(low.ok());
  EXPECT_NE(low.error().find("5000-65534"), std::string::npos);
  EXPECT_FALSE(MaxUserPortRange(MapRegistryValue("Tcpip.MaxUserPort", Sz("60000"))).ok());
}

TEST(Config, SnapshotSaysWhereTheRangeCameFromAndKeepsAbsentValues) {
  std::vector<ConfigValue> params = {MapRegistryValue("Tcpip.TcpTimedWaitDelay", Dword(30)),
                                     MapRegistryValue("Tcpip.MaxUserPort", RegistryRead{})};
  DynamicPorts wmi;
  wmi.source = "wmi";
  wmi.tcp = {49152, 65535};
  wmi.udp = {49152, 65535};
  ConfigSnapshot s = BuildWindowsConfig(FormatWindowsVersion(10, 0, 20348, ""), params, wmi);
  EXPECT_EQ(s.os_version, "Windows 10.0.20348");
  ASSERT_TRUE(std::is_sorted(s.values.begin(), s.values.end(),
                             [](const ConfigValue& a, const ConfigValue& b) { return a.key < b.key; }));
  auto find = [&](const std::string& key) -> const ConfigValue* {
    for (const ConfigValue& v : s.values) {
      if (v.key == key) return &v;
    }
    return nullptr;
  };
  ASSERT_NE(find("Tcpip.MaxUserPort"), nullptr);
  EXPECT_FALSE(find("Tcpip.MaxUserPort")->present);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.Source")->string_value, "wmi");
  EXPECT_EQ(find("Tcpip.DynamicPortRange.TCP.StartPort")->int_value, 49152);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.TCP.NumberOfPorts")->int_value, 16384);
  EXPECT_EQ(find("Tcpip.DynamicPortRange.UDP.NumberOfPorts")->int_value, 16384);
  // Auto-reuse off is a real 0, reported as such.
  ASSERT_NE(find("Tcpip.AutoReusePortRange.TCP.NumberOfPorts"), nullptr);
  EXPECT_EQ(find("Tcpip.AutoReusePortRange.TCP.NumberOfPorts")->int_value, 0);

  DynamicPorts unknown;
  unknown.unknown_reason = "WMI root/StandardCimv2 is not available";
  ConfigSnapshot u = BuildWindowsConfig("Windows 10.0.19045", params, unknown);
  bool saw_source = false;
  for (const ConfigValue& v : u.values) {
    EXPECT_EQ(v.key.find("Tcpip.DynamicPortRange.TCP"), std::string::npos) << "no invented range";
    if (v.key == "Tcpip.DynamicPortRange.Source") {
      saw_source = true;
      EXPECT_EQ(v.string_value, "unavailable: WMI root/StandardCimv2 is not available");
    }
  }
  EXPECT_TRUE(saw_source);
  EXPECT_EQ(FormatWindowsVersion(5, 2, 3790, "Service Pack 2"), "Windows 5.2.3790 Service Pack 2");
}

// ---- Events --------------------------------------------------------------------------------------

std::string EventXml(const std::string& provider, const std::string& id, const std::string& time) {
  return "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
         "<Provider Name='" + provider + "'/><EventID Qualifiers='16384'>" + id +
         "</EventID><Version>0</Version><Level>3</Level><Task>0</Task><Opcode>0</Opcode>"
         "<Keywords>0x80000000000000</Keywords><TimeCreated SystemTime='" + time +
         "'/><EventRecordID>91234</EventRecordID><Correlation/><Execution ProcessID='4' "
         "ThreadID='88'/><Channel>System</Channel><Computer>web01.example.internal</Computer>"
         "<Security/></System><EventData></EventData></Event>";
}

TEST(Events, ParsesEachCountedId) {
  // 2023-05-10T08:15:30.123Z = 1683706530123 ms.
  for (uint32_t id : kTcpipEventIds) {
    auto e = ParseTcpipEventXml(EventXml("Tcpip", std::to_string(id), "2023-05-10T08:15:30.1234567Z"));
    ASSERT_TRUE(e.ok()) << id << ": " << e.error();
    EXPECT_EQ(e->id, id);
    EXPECT_EQ(e->unix_ms, 1683706530123);
  }
  // Double quotes and no fraction are valid XML too.
  auto dq = ParseTcpipEventXml(
      "<Event><System><Provider Name=\"Tcpip\" /><EventID>4231</EventID>"
      "<TimeCreated SystemTime=\"1970-01-02T00:00:00Z\" /></System></Event>");
  ASSERT_TRUE(dq.ok()) << dq.error();
  EXPECT_EQ(dq->unix_ms, 86400000);
}

TEST(Events, RejectsMalformedAndForeignEvents) {
  const std::string t = "2023-05-10T08:15:30.1234567Z";
  struct Case {
    std::string xml;
    std::string says;
  } cases[] = {
      {"", "not an event"},
      {"<Event><System><EventID>4227</EventID></System></Event>", "not an event"},
      {EventXml("Tcpip", "4228", t), "not one the agent counts"},
      {EventXml("Service Control Manager", "4227", t), "not Tcpip"},
      {EventXml("Tcpip", "42x7", t), "no numeric <EventID>"},
      {EventXml("Tcpip", "", t), "no numeric <EventID>"},
      {"<Event><System><Provider Name='Tcpip'/><EventID>4227", "no numeric <EventID>"},
      {EventXml("Tcpip", "4227", "yesterday"), "is not of the form"},
      {EventXml("Tcpip", "4227", "2023-13-10T08:15:30Z"), "is not of the form"},
      {EventXml("Tcpip", "4227", "2023-05-10T08:15:30,5Z"), "is not of the form"},
      {"<Event><System><Provider Name='Tcpip'/><EventID>4266</EventID></System></Event>",
       "no TimeCreated"},
      {"<Event><System><Provider Name='Tcpip/><EventID>4266</EventID></System></Event>",
       "not an event"},
  };
  for (const Case& c : cases) {
    auto e = ParseTcpipEventXml(c.xml);
    ASSERT_FALSE(e.ok()) << c.xml;
    EXPECT_NE(e.error().find(c.says), std::string::npos) << c.xml << " -> " << e.error();
  }
}

TEST(Events, QueryNamesTheProviderAndEveryId) {
  const std::string q = TcpipEventQuery();
  EXPECT_EQ(q,
            "*[System[Provider[@Name='Tcpip'] and (EventID=4226 or EventID=4227 or "
            "EventID=4231 or EventID=4265 or EventID=4266)]]");
}

TEST(Events, StateCountsPersistsAndRejectsDamage) {
  EventState s;
  s.Apply({4227, 1000});
  s.Apply({4227, 3000});
  s.Apply({4227, 2000});  // out of order: the latest time stays
  s.Apply({4266, 500});
  s.bookmark_xml = "<BookmarkList>\r\n  <Bookmark Channel='System' RecordId='91234' "
                   "IsCurrent='true'/>\r\n</BookmarkList>";
  auto counters = s.Counters();
  ASSERT_EQ(counters.size(), 5u);
  EXPECT_EQ(counters[0].name, "Tcpip.4226");
  EXPECT_EQ(counters[0].value, 0u);
  EXPECT_EQ(counters[1].name, "Tcpip.4227");
  EXPECT_EQ(counters[1].value, 3u);
  EXPECT_EQ(counters[1].last_unix_ms, 3000);
  EXPECT_EQ(counters[4].name, "Tcpip.4266");
  EXPECT_EQ(counters[4].value, 1u);

  auto back = ParseEventState(SerializeEventState(s));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->bookmark_xml, s.bookmark_xml);
  EXPECT_EQ(back->counts.at(4227).value, 3u);
  EXPECT_EQ(back->counts.at(4227).last_unix_ms, 3000);
  EXPECT_EQ(back->counts.at(4266).value, 1u);

  for (const char* bad : {"", "{", "[]", "{\"version\":2,\"bookmark\":\"\",\"counts\":{}}",
                          "{\"version\":1,\"bookmark\":5,\"counts\":{}}",
                          "{\"version\":1,\"bookmark\":\"\",\"counts\":{\"x\":{}}}",
                          "{\"version\":1,\"bookmark\":\"\",\"counts\":{\"4227\":{\"count\":-1,"
                          "\"last_unix_ms\":0}}}"}) {
    auto r = ParseEventState(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("delete it"), std::string::npos);
  }
}

// ---- Processes ---------------------------------------------------------------------------------

TEST(Processes, BaseNameAndCacheByPidAndStartTime) {
  EXPECT_EQ(ImageBaseName("C:\\Windows\\System32\\inetsrv\\w3wp.exe"), "w3wp.exe");
  EXPECT_EQ(ImageBaseName("svchost.exe"), "svchost.exe");

  std::map<uint32_t, uint64_t> start = {{100, 1}, {200, 2}, {4, 0}};
  std::map<uint32_t, std::string> path = {{100, "C:\\a\\w3wp.exe"}, {200, "D:\\b\\sqlservr.exe"}};
  ProcessNameCache cache(
      [&](uint32_t pid, uint64_t* t) {
        auto it = start.find(pid);
        if (it == start.end()) return false;
        *t = it->second;
        return true;
      },
      [&](uint32_t pid, std::string* p) {
        auto it = path.find(pid);
        if (it == path.end()) return false;
        *p = it->second;
        return true;
      });
  cache.Refresh({100, 200, 100, 0, 4});
  EXPECT_EQ(cache.path_lookups(), 3u);
  ASSERT_NE(cache.Info(100), nullptr);
  EXPECT_EQ(cache.Info(100)->name, "w3wp.exe");
  EXPECT_EQ(cache.Info(100)->program, "C:\\a\\w3wp.exe");
  EXPECT_EQ(cache.Info(4)->name, "System");
  EXPECT_EQ(cache.Info(0), nullptr);

  cache.Refresh({100, 200});
  EXPECT_EQ(cache.path_lookups(), 3u) << "same PIDs, same start times: no new lookups";
  EXPECT_EQ(cache.Info(4), nullptr) << "PIDs no longer seen are forgotten";

  // PID 100 exits and is reused by another program.
  start[100] = 7;
  path[100] = "C:\\c\\backup.exe";
  cache.Refresh({100, 200});
  EXPECT_EQ(cache.path_lookups(), 4u);
  EXPECT_EQ(cache.Info(100)->name, "backup.exe");

  // A process that cannot be opened has no entry, and is retried next time.
  start.erase(200);
  cache.Refresh({100, 200});
  EXPECT_EQ(cache.Info(200), nullptr);
}

TEST(Processes, HostileImageNamesAreBoundedAndEscapedAtTheSource) {
  // U+202E (right-to-left override) is legal in an NTFS file name; so is a 32 K character path.
  const std::string rlo = "\xE2\x80\xAE";
  const std::string spoof = "C:\\Users\\x\\invoice" + rlo + "txt.exe";
  const std::string long_path = "C:\\" + std::string(5000, 'd') + "\\long.exe";
  std::map<uint32_t, std::string> path = {{100, spoof}, {200, long_path}};
  ProcessNameCache cache(
      [](uint32_t, uint64_t* t) {
        *t = 1;
        return true;
      },
      [&](uint32_t pid, std::string* p) {
        *p = path.at(pid);
        return true;
      });
  cache.Refresh({100, 200});
  ASSERT_NE(cache.Info(100), nullptr);
  EXPECT_EQ(cache.Info(100)->name, "invoice\\u202Etxt.exe");
  EXPECT_EQ(cache.Info(100)->program.find(rlo), std::string::npos);
  ASSERT_NE(cache.Info(200), nullptr);
  EXPECT_EQ(cache.Info(200)->name, "long.exe");
  EXPECT_LE(cache.Info(200)->program.size(), kMaxProgramBytes);
  EXPECT_TRUE(IsCleanText(cache.Info(200)->program, kMaxProgramBytes));
}

TEST(CommandLine, QuotesLikeCommandLineToArgvWSplits) {
  EXPECT_EQ(QuoteWindowsArgument("run"), "run");
  EXPECT_EQ(QuoteWindowsArgument(""), "\"\"");
  EXPECT_EQ(QuoteWindowsArgument("C:\\Program Files\\portwatch\\agent.ini"),
            "\"C:\\Program Files\\portwatch\\agent.ini\"");
  // A trailing backslash would otherwise escape the closing quote.
  EXPECT_EQ(QuoteWindowsArgument("C:\\My Data\\"), "\"C:\\My Data\\\\\"");
  EXPECT_EQ(QuoteWindowsArgument("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(QuoteWindowsArgument("a\\\"b c"), "\"a\\\\\\\"b c\"");
}

}  // namespace
}  // namespace portwatch::agent::win

// Live tests of the Windows probes against the real Win32 APIs: on Windows, or under Wine from
// the Linux build (cmake/windows-cross.sh). Where the platform stubs an API (Wine: owning PIDs
// are 0, wevtapi subscriptions fail, WMI has no StandardCimv2 TCP settings, iphlpapi has no
// bound-endpoint exports), the test checks that the agent says so and skips the part that needs
// the real answer, with the reason; the recorded-input tests in windows_mapping_test.cc cover
// the mapping itself.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "collect/event_source_windows.h"
#include "collect/process_attribution.h"
#include "collect/socket_table.h"
#include "collect/tcp_config.h"
#include "collect/windows_mapping.h"
#include "portwatch/files.h"
#include "portwatch/win32.h"
#include "src/windows/event_log.h"
#include "src/windows/service.h"

namespace portwatch::agent {
namespace {

using win32::Narrow;
using win32::Wide;

class Winsock : public ::testing::Environment {
 public:
  void SetUp() override {
    WSADATA d;
    ASSERT_EQ(WSAStartup(MAKEWORD(2, 2), &d), 0);
  }
  void TearDown() override { WSACleanup(); }
};
const auto* const kWinsock = ::testing::AddGlobalTestEnvironment(new Winsock);

struct Sock {
  SOCKET s = INVALID_SOCKET;
  Sock() = default;
  explicit Sock(SOCKET x) : s(x) {}
  ~Sock() {
    if (s != INVALID_SOCKET) closesocket(s);
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
};

uint16_t LocalPort(SOCKET s) {
  sockaddr_storage a{};
  int len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

// A loopback listener, a connected client and the accepted server side, in one family.
struct Loopback {
  Sock listener, client, server;
  uint16_t listen_port = 0, client_port = 0;

  bool Open(int family) {
    listener.s = socket(family, SOCK_STREAM, IPPROTO_TCP);
    if (listener.s == INVALID_SOCKET) return false;
    sockaddr_storage a{};
    int len;
    if (family == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
      a6->sin6_family = AF_INET6;
      a6->sin6_addr = in6addr_loopback;
      len = sizeof(sockaddr_in6);
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
      a4->sin_family = AF_INET;
      a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(sockaddr_in);
    }
    if (bind(listener.s, reinterpret_cast<sockaddr*>(&a), len) != 0) return false;
    if (listen(listener.s, 8) != 0) return false;
    listen_port = LocalPort(listener.s);
    (family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                        : reinterpret_cast<sockaddr_in*>(&a)->sin_port) = htons(listen_port);
    client.s = socket(family, SOCK_STREAM, IPPROTO_TCP);
    if (connect(client.s, reinterpret_cast<sockaddr*>(&a), len) != 0) return false;
    server.s = accept(listener.s, nullptr, nullptr);
    client_port = LocalPort(client.s);
    return server.s != INVALID_SOCKET;
  }
};

const SocketEntry* Find(const std::vector<SocketEntry>& v, Family f, TcpState st, uint16_t lport,
                        uint16_t rport) {
  for (const SocketEntry& e : v) {
    if (e.family == f && e.state == st && e.local_port == lport &&
        (rport == 0 || e.remote_port == rport)) {
      return &e;
    }
  }
  return nullptr;
}

// Rescans until `pred` holds or 10 s pass: TCP state changes are asynchronous.
bool ScanUntil(SocketTable& table, std::vector<SocketEntry>* out,
               const std::function<bool(const std::vector<SocketEntry>&)>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    if (table.Scan(out).ok() && pred(*out)) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TEST(LiveSocketTable, FindsLoopbackConnectionsWithTheirStates) {
  auto table = MakeSocketTable();
  for (int family : {AF_INET, AF_INET6}) {
    const Family f = family == AF_INET6 ? Family::kIpv6 : Family::kIpv4;
    Loopback lo;
    if (!lo.Open(family)) {
      ASSERT_EQ(family, AF_INET6) << "IPv4 loopback must work";
      std::printf("note: no IPv6 loopback on this host; IPv6 rows are covered by fixtures\n");
      continue;
    }
    std::vector<SocketEntry> v;
    ASSERT_TRUE(ScanUntil(*table, &v, [&](const std::vector<SocketEntry>& s) {
      return Find(s, f, TcpState::kListen, lo.listen_port, 0) &&
             Find(s, f, TcpState::kEstablished, lo.client_port, lo.listen_port) &&
             Find(s, f, TcpState::kEstablished, lo.listen_port, lo.client_port);
    })) << "listener " << lo.listen_port << " / client " << lo.client_port << " not found in "
        << v.size() << " rows (" << FamilyName(f) << ")";
    // Active close from the client: its port goes through FIN_WAIT to TIME_WAIT.
    shutdown(lo.client.s, SD_BOTH);
    closesocket(lo.client.s);
    lo.client.s = INVALID_SOCKET;
    closesocket(lo.server.s);
    lo.server.s = INVALID_SOCKET;
    EXPECT_TRUE(ScanUntil(*table, &v, [&](const std::vector<SocketEntry>& s) {
      return Find(s, f, TcpState::kTimeWait, lo.client_port, lo.listen_port) != nullptr;
    })) << "no TIME_WAIT for client port " << lo.client_port << " (" << FamilyName(f) << ")";
  }
}

TEST(LiveSocketTable, BoundOnlySocketsAreCountedOrSaidToBeUnknown) {
  Sock bound(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(bound.s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const uint16_t port = LocalPort(bound.s);
  auto table = MakeSocketTable();
  std::vector<SocketEntry> v;
  ASSERT_TRUE(table->Scan(&v).ok());
  const std::string missing = table->MissingFromScan();
  if (!missing.empty()) {
    EXPECT_NE(missing.find("bound"), std::string::npos) << missing;
    GTEST_SKIP() << "bound-only sockets cannot be read here, and the agent says so: " << missing;
  }
  const SocketEntry* e = Find(v, Family::kIpv4, TcpState::kBound, port, 0);
  ASSERT_NE(e, nullptr) << "bound port " << port << " not in the bound endpoint table";
  EXPECT_EQ(e->owner_pid, GetCurrentProcessId());
}

TEST(LiveSocketTable, OwnerPidIsThisProcess) {
  Loopback lo;
  ASSERT_TRUE(lo.Open(AF_INET));
  auto table = MakeSocketTable();
  std::vector<SocketEntry> v;
  ASSERT_TRUE(ScanUntil(*table, &v, [&](const std::vector<SocketEntry>& s) {
    return Find(s, Family::kIpv4, TcpState::kListen, lo.listen_port, 0) != nullptr;
  }));
  const SocketEntry* listener = Find(v, Family::kIpv4, TcpState::kListen, lo.listen_port, 0);
  if (listener->owner_pid == 0) {
    GTEST_SKIP() << "the TCP table reports owning PID 0 for this process's own listener: this "
                    "platform (Wine) does not fill dwOwningPid, so every socket is reported as "
                    "unattributed";
  }
  EXPECT_EQ(listener->owner_pid, GetCurrentProcessId());
}

TEST(LiveProcessAttribution, NamesThisProcessFromItsImage) {
  auto attribution = MakeProcessAttribution();
  std::vector<SocketEntry> v(1);
  v[0].owner_pid = GetCurrentProcessId();
  ASSERT_TRUE(attribution->Attribute(&v).ok());
  const ProcessInfo* info = attribution->Info(GetCurrentProcessId());
  ASSERT_NE(info, nullptr);
  std::string name = info->name;
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  EXPECT_EQ(name, "agent_windows_test.exe") << info->program;
  EXPECT_NE(info->program.find('\\'), std::string::npos) << info->program;
}

// Sets (or deletes) Tcpip\Parameters values for one test and restores what was there.
class TcpipParameters {
 public:
  bool Open() {
    LONG rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, Wide(win::kTcpipParametersKey).c_str(), 0,
                              nullptr, 0, KEY_QUERY_VALUE | KEY_SET_VALUE | KEY_WOW64_64KEY,
                              nullptr, &key_, nullptr);
    error_ = rc;
    return rc == ERROR_SUCCESS;
  }
  LONG error() const { return error_; }
  ~TcpipParameters() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->found) {
        RegSetValueExW(key_, it->name.c_str(), 0, it->type, it->data.data(),
                       static_cast<DWORD>(it->data.size()));
      } else {
        RegDeleteValueW(key_, it->name.c_str());
      }
    }
    if (key_ != nullptr) RegCloseKey(key_);
  }
  void SetDword(const char* name, DWORD v) {
    Save(name);
    RegSetValueExW(key_, Wide(name).c_str(), 0, REG_DWORD, reinterpret_cast<BYTE*>(&v), sizeof v);
  }
  void SetString(const char* name, const std::wstring& v) {
    Save(name);
    RegSetValueExW(key_, Wide(name).c_str(), 0, REG_SZ, reinterpret_cast<const BYTE*>(v.c_str()),
                   static_cast<DWORD>((v.size() + 1) * sizeof(wchar_t)));
  }
  void Delete(const char* name) {
    Save(name);
    RegDeleteValueW(key_, Wide(name).c_str());
  }

 private:
  struct Saved {
    std::wstring name;
    bool found;
    DWORD type;
    std::vector<BYTE> data;
  };
  void Save(const char* name) {
    Saved s{Wide(name), false, 0, std::vector<BYTE>(1024)};
    DWORD size = static_cast<DWORD>(s.data.size());
    s.found = RegQueryValueExW(key_, s.name.c_str(), nullptr, &s.type, s.data.data(), &size) ==
              ERROR_SUCCESS;
    s.data.resize(size);
    saved_.push_back(std::move(s));
  }
  HKEY key_ = nullptr;
  LONG error_ = 0;
  std::vector<Saved> saved_;
};

const ConfigValue* FindValue(const ConfigSnapshot& s, const std::string& key) {
  for (const ConfigValue& v : s.values) {
    if (v.key == key) return &v;
  }
  return nullptr;
}

TEST(LiveTcpConfig, ReadsRegistryValuesBackPresentAbsentAndMistyped) {
  TcpipParameters params;
  if (!params.Open()) {
    GTEST_SKIP() << "cannot write HKLM\\...\\Tcpip\\Parameters ("
                 << win32::ErrorText(static_cast<DWORD>(params.error()))
                 << "): run the test elevated to check registry reads";
  }
  params.SetDword("TcpTimedWaitDelay", 30);
  params.SetDword("MaxUserPort", 65534);
  params.SetString("StrictTimeWaitSeqCheck", L"1");
  params.Delete("MaxFreeTcbs");

  auto config = ReadTcpConfig();
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->os_version.rfind("Windows ", 0), 0u) << config->os_version;
  const ConfigValue* tw = FindValue(*config, "Tcpip.TcpTimedWaitDelay");
  ASSERT_NE(tw, nullptr);
  EXPECT_TRUE(tw->present);
  EXPECT_EQ(tw->int_value, 30);
  EXPECT_EQ(FindValue(*config, "Tcpip.MaxUserPort")->int_value, 65534);
  const ConfigValue* absent = FindValue(*config, "Tcpip.MaxFreeTcbs");
  ASSERT_NE(absent, nullptr);
  EXPECT_FALSE(absent->present) << "absent must not read as 0";
  const ConfigValue* mistyped = FindValue(*config, "Tcpip.StrictTimeWaitSeqCheck");
  ASSERT_NE(mistyped, nullptr);
  EXPECT_EQ(mistyped->type, ConfigValue::Type::kString);
  EXPECT_EQ(mistyped->string_value, "REG_SZ: 1");
  for (const char* name : win::kTcpipParameterNames) {
    EXPECT_NE(FindValue(*config, std::string("Tcpip.") + name), nullptr) << name;
  }
}

TEST(LiveTcpConfig, DynamicRangeComesFromWmiNetshOrIsSaidToBeAssumed) {
  auto config = ReadTcpConfig();
  ASSERT_TRUE(config.ok()) << config.error();
  const ConfigValue* source = FindValue(*config, "Tcpip.DynamicPortRange.Source");
  ASSERT_NE(source, nullptr);
  auto ports = ReadEphemeralPorts();
  if (source->string_value.rfind("unavailable: ", 0) == 0) {
    EXPECT_EQ(FindValue(*config, "Tcpip.DynamicPortRange.TCP.StartPort"), nullptr)
        << "no range may be invented";
    ASSERT_FALSE(ports.ok());
    EXPECT_NE(ports.error().find("could not be read"), std::string::npos) << ports.error();
    GTEST_SKIP() << "no dynamic port range source here, and the agent says so: "
                 << source->string_value;
  }
  ASSERT_TRUE(ports.ok()) << ports.error();
  if (source->string_value == "assumed") {
    // Neither WMI nor netsh answered (Wine has neither): the documented default, said so.
    EXPECT_FALSE(ports->assumed_reason.empty());
    const ConfigValue* why = FindValue(*config, "Tcpip.DynamicPortRange.AssumedBecause");
    ASSERT_NE(why, nullptr);
    EXPECT_NE(why->string_value.find("documented default"), std::string::npos);
    std::printf("note: dynamic range assumed here: %s\n", why->string_value.c_str());
  } else {
    EXPECT_TRUE(ports->assumed_reason.empty()) << ports->assumed_reason;
  }
  const ConfigValue* start = FindValue(*config, "Tcpip.DynamicPortRange.TCP.StartPort");
  const ConfigValue* count = FindValue(*config, "Tcpip.DynamicPortRange.TCP.NumberOfPorts");
  ASSERT_NE(start, nullptr);
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(ports->range.low, start->int_value);
  EXPECT_EQ(ports->range.size(), count->int_value);
}

TEST(LiveEvents, CountsTcpipEventsOrSaysTheLogCannotBeRead) {
  char dir[MAX_PATH];
  GetTempPathA(MAX_PATH, dir);
  const std::string state = std::string(dir) + "pw_events_" +
                            std::to_string(GetCurrentProcessId()) + ".json";
  DeleteFileA(state.c_str());
  EventCounts first;
  {
    auto source = MakeWindowsEventSource(state);
    ASSERT_TRUE(source->Read(&first).ok());
  }
  ASSERT_EQ(first.counters.size(), 5u);
  EXPECT_EQ(first.counters[0].name, "Tcpip.4226");
  EXPECT_EQ(first.counters[4].name, "Tcpip.4266");
  if (first.degraded) {
    EXPECT_NE(first.degraded_reason.find("EvtSubscribe"), std::string::npos)
        << first.degraded_reason;
    GTEST_SKIP() << "the System log cannot be subscribed to here, and the agent says so: "
                 << first.degraded_reason;
  }
  // A restart resumes after the bookmark: the counts neither drop nor double.
  EventCounts second;
  {
    auto source = MakeWindowsEventSource(state);
    ASSERT_TRUE(source->Read(&second).ok());
  }
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_GE(second.counters[i].value, first.counters[i].value) << second.counters[i].name;
    EXPECT_LE(second.counters[i].value, first.counters[i].value + 1000) << "double counted?";
  }
  DeleteFileA(state.c_str());
}

// Runs a command line, returning its exit code and standard output.
int RunCommand(const std::string& command, std::string* out) {
  SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
  HANDLE read = nullptr, write = nullptr;
  if (!CreatePipe(&read, &write, &sa, 0)) return -1;
  SetHandleInformation(read, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdOutput = write;
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  PROCESS_INFORMATION pi{};
  std::wstring cmd = Wide(command);
  if (!CreateProcessW(nullptr, cmd.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si,
                      &pi)) {
    CloseHandle(read);
    CloseHandle(write);
    return -1;
  }
  CloseHandle(write);
  char buf[4096];
  DWORD n = 0;
  while (ReadFile(read, buf, sizeof buf, &n, nullptr) && n > 0) out->append(buf, n);
  CloseHandle(read);
  WaitForSingleObject(pi.hProcess, 120000);
  DWORD code = 1;
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hProcess);
  CloseHandle(pi.hThread);
  return static_cast<int>(code);
}

std::string AgentExe() {
  wchar_t buf[MAX_PATH];
  DWORD n = GetModuleFileNameW(nullptr, buf, MAX_PATH);
  std::string self = Narrow(buf, n);
  return self.substr(0, self.find_last_of('\\') + 1) + "portwatch-agent.exe";
}

TEST(LiveSnapshotCommand, PrintsAJsonReportOfThisHost) {
  Loopback lo;
  ASSERT_TRUE(lo.Open(AF_INET));
  char dir[MAX_PATH];
  GetTempPathA(MAX_PATH, dir);
  std::string out;
  const int rc = RunCommand(win::QuoteWindowsArgument(AgentExe()) +
                                " snapshot --json --data-dir " +
                                win::QuoteWindowsArgument(std::string(dir) + "pw_snapshot"),
                            &out);
  ASSERT_EQ(rc, 0) << out;
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_FALSE(j["host"].get<std::string>().empty());
  // This test's own listener and connection pair are on the host.
  EXPECT_GE(j["states"]["ipv4"]["listen"].get<int>(), 1) << out;
  EXPECT_GE(j["states"]["ipv4"]["established"].get<int>(), 2) << out;
  EXPECT_GE(j["total_sockets"].get<int>(), 3);
  EXPECT_EQ(j["config"]["os_version"].get<std::string>().rfind("Windows ", 0), 0u);
  EXPECT_TRUE(j["config"]["values"].contains("Tcpip.TcpTimedWaitDelay"));
  EXPECT_TRUE(j["config"]["values"].contains("Tcpip.DynamicPortRange.Source"));
  EXPECT_EQ(j["events"]["counters"].size(), 5u);
  EXPECT_TRUE(j["processes"]["top"].is_array());
  EXPECT_FALSE(j["processes"]["top"].empty());
  // Whatever could not be read is said, in words.
  if (j["events"]["degraded"].get<bool>()) {
    std::printf("snapshot degraded: %s\n",
                j["events"]["degraded_reason"].get<std::string>().c_str());
  }
  if (j["config"]["values"]["Tcpip.DynamicPortRange.Source"].get<std::string>().rfind(
          "unavailable", 0) == 0) {
    EXPECT_EQ(j["ephemeral"]["usable"].get<int>(), 0) << "no invented range";
    ASSERT_TRUE(j["events"]["degraded"].get<bool>());
    EXPECT_NE(j["events"]["degraded_reason"].get<std::string>().find(
                  "ephemeral port range unknown"),
              std::string::npos);
  }
}

TEST(LiveSnapshotCommand, BadOptionsFailWithAMessage) {
  std::string out;
  EXPECT_NE(RunCommand(win::QuoteWindowsArgument(AgentExe()) + " snapshot --bogus", &out), 0);
  EXPECT_NE(RunCommand(win::QuoteWindowsArgument(AgentExe()) + " run --interval 5h --output x",
                       &out),
            0);
}

// Wine's ntdll exports wine_get_version; Windows' does not.
bool RunningUnderWine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

// Waits for a service state, up to 30 s.
bool WaitForServiceState(SC_HANDLE svc, DWORD want) {
  SERVICE_STATUS st{};
  for (int i = 0; i < 300; ++i) {
    if (!QueryServiceStatus(svc, &st)) return false;
    if (st.dwCurrentState == want) return true;
    Sleep(100);
  }
  return false;
}

TEST(LiveService, InstallsRunsUnderTheScmStopsAndUninstalls) {
  char tmp[MAX_PATH];
  GetTempPathA(MAX_PATH, tmp);
  const std::string base = std::string(tmp) + "pw_service_" + std::to_string(GetCurrentProcessId());
  CreateDirectoryA(base.c_str(), nullptr);
  const std::string ini = base + "\\agent.ini";
  const std::string output = base + "\\latest.json";
  ASSERT_TRUE(WriteFileAtomic(ini, "[run]\ninterval = 200ms\ndata-dir = " + base +
                                       "\noutput = " + output + "\n")
                  .ok());
  const std::string name = "portwatch-agent-test-" + std::to_string(GetCurrentProcessId());
  std::string out;
  // A service of the same name left by an interrupted earlier run (PIDs repeat under Wine).
  (void)RunCommand(win::QuoteWindowsArgument(AgentExe()) + " uninstall-service --service-name " +
                       name,
                   &out);
  out.clear();
  int rc = RunCommand(win::QuoteWindowsArgument(AgentExe()) + " install-service --agent-config " +
                          win::QuoteWindowsArgument(ini) + " --service-name " + name,
                      &out);
  if (rc != 0 && out.find("cannot open the service control manager") != std::string::npos) {
    GTEST_SKIP() << "not allowed to install services here (run elevated): " << out;
  }
  ASSERT_EQ(rc, 0) << out;
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  ASSERT_NE(scm, nullptr);
  SC_HANDLE svc = OpenServiceW(scm, Wide(name).c_str(), SERVICE_ALL_ACCESS);
  ASSERT_NE(svc, nullptr);
  // What install-service configured, read back from the SCM: restart on error exits as well as
  // crashes, the restart actions, and the start after the Event Log service.
  {
    SERVICE_FAILURE_ACTIONS_FLAG flag{};
    DWORD needed = 0;
    if (QueryServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG,
                             reinterpret_cast<BYTE*>(&flag), sizeof flag, &needed)) {
      EXPECT_TRUE(flag.fFailureActionsOnNonCrashFailures);
    } else {
      // Wine 8's services.exe has no failure-actions flag (ERROR_INVALID_LEVEL); Windows from
      // Vista on has. Only under Wine is its absence accepted, and install-service said so.
      const DWORD err = GetLastError();
      EXPECT_TRUE(RunningUnderWine() && err == ERROR_INVALID_LEVEL) << win32::ErrorText(err);
      std::printf("note: SERVICE_CONFIG_FAILURE_ACTIONS_FLAG not readable under Wine: %s\n",
                  win32::ErrorText(err).c_str());
    }
    std::vector<BYTE> buf(8192);
    if (QueryServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, buf.data(),
                             static_cast<DWORD>(buf.size()), &needed)) {
      const auto* fa = reinterpret_cast<const SERVICE_FAILURE_ACTIONSW*>(buf.data());
      ASSERT_EQ(fa->cActions, 3u);
      EXPECT_EQ(fa->lpsaActions[0].Type, SC_ACTION_RESTART);
      EXPECT_EQ(fa->dwResetPeriod, 86400u);
    } else {
      // Wine 8 stores failure actions but cannot return them (ERROR_INVALID_LEVEL).
      const DWORD err = GetLastError();
      EXPECT_TRUE(RunningUnderWine() && err == ERROR_INVALID_LEVEL) << win32::ErrorText(err);
      std::printf("note: SERVICE_CONFIG_FAILURE_ACTIONS not readable under Wine: %s\n",
                  win32::ErrorText(err).c_str());
    }
    ASSERT_TRUE(QueryServiceConfigW(svc, reinterpret_cast<QUERY_SERVICE_CONFIGW*>(buf.data()),
                                    static_cast<DWORD>(buf.size()), &needed))
        << win32::ErrorText(GetLastError());
    const auto* cfg = reinterpret_cast<const QUERY_SERVICE_CONFIGW*>(buf.data());
    ASSERT_NE(cfg->lpDependencies, nullptr);
    const std::wstring dependencies(cfg->lpDependencies);
    if (dependencies.empty() && RunningUnderWine()) {
      // Wine 8 keeps a service's dependencies but returns none here.
      std::printf("note: service dependencies not returned by Wine's QueryServiceConfigW\n");
    } else {
      EXPECT_EQ(dependencies, L"EventLog");
    }
    // The event log source is registered under the service's name.
    HKEY key = nullptr;
    EXPECT_EQ(RegOpenKeyExW(HKEY_LOCAL_MACHINE, Wide(EventLogSourceKey(name)).c_str(), 0,
                            KEY_READ, &key),
              ERROR_SUCCESS);
    if (key != nullptr) RegCloseKey(key);
  }
  EXPECT_TRUE(StartServiceW(svc, 0, nullptr)) << win32::ErrorText(GetLastError());
  EXPECT_TRUE(WaitForServiceState(svc, SERVICE_RUNNING));
  // The service's first report is written within a few intervals.
  std::string report;
  for (int i = 0; i < 300; ++i) {
    auto r = ReadFileLimited(output, 1 << 24, "report");
    if (r.ok() && r->size() > 3) {
      report = *r;
      break;
    }
    Sleep(100);
  }
  nlohmann::json j = nlohmann::json::parse(report, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "no report from the service in " << output;
  if (!j.is_discarded()) {
    EXPECT_GE(j["total_sockets"].get<int>(), 1);
  }
  SERVICE_STATUS st{};
  EXPECT_TRUE(ControlService(svc, SERVICE_CONTROL_STOP, &st)) << win32::ErrorText(GetLastError());
  EXPECT_TRUE(WaitForServiceState(svc, SERVICE_STOPPED));
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  auto log = ReadFileLimited(base + "\\agent.log", 1 << 20, "service log");
  ASSERT_TRUE(log.ok()) << log.error();
  EXPECT_NE(log->find("service '" + name + "' starting"), std::string::npos) << *log;
  EXPECT_NE(log->find("stopping"), std::string::npos) << *log;

  out.clear();
  rc = RunCommand(win::QuoteWindowsArgument(AgentExe()) + " uninstall-service --service-name " +
                      name,
                  &out);
  EXPECT_EQ(rc, 0) << out;
  scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  EXPECT_EQ(OpenServiceW(scm, Wide(name).c_str(), SERVICE_QUERY_STATUS), nullptr)
      << "service still registered after uninstall";
  CloseServiceHandle(scm);
  HKEY key = nullptr;
  EXPECT_EQ(RegOpenKeyExW(HKEY_LOCAL_MACHINE, Wide(EventLogSourceKey(name)).c_str(), 0, KEY_READ,
                          &key),
            ERROR_FILE_NOT_FOUND)
      << "event log source left behind by uninstall";
  if (key != nullptr) RegCloseKey(key);
}

}  // namespace
}  // namespace portwatch::agent

// Windows TCP settings: Tcpip\Parameters registry values, the OS version (RtlGetVersion, which
// unlike GetVersionEx is not shimmed to the manifest's OS), and the dynamic port ranges. On
// Vista and later the ranges live behind WMI (root/StandardCimv2 MSFT_NetTCPSetting and
// MSFT_NetUDPSetting, what `netsh int ipv4 show dynamicport tcp` shows); no documented iphlpapi
// call returns them. Before Vista, MaxUserPort bounds the range 1025..MaxUserPort. When neither
// answers, the range is reported as unknown with the reason, never guessed.
//
// `root` (a path prefix for fixtures on Linux) is not used: the registry and WMI are always the
// live system's; tests on Windows write real registry values instead.
#include <windows.h>
#include <wbemidl.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "collect/tcp_config.h"
#include "collect/windows_mapping.h"
#include "collect/windows_port_ranges.h"
#include "collect/windows_range_refresher.h"
#include "portwatch/win32.h"

namespace portwatch::agent {
namespace {

using win32::Narrow;
using win32::Wide;

struct OsVersion {
  uint32_t major = 0, minor = 0, build = 0;
  std::string service_pack;
  bool known = false;
};

OsVersion ReadOsVersion() {
  using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOW*);
  OsVersion v;
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  auto fn = ntdll == nullptr ? nullptr
                             : reinterpret_cast<RtlGetVersionFn>(reinterpret_cast<void*>(
                                   GetProcAddress(ntdll, "RtlGetVersion")));
  OSVERSIONINFOW info{};
  info.dwOSVersionInfoSize = sizeof info;
  if (fn != nullptr && fn(&info) == 0) {
    v.major = info.dwMajorVersion;
    v.minor = info.dwMinorVersion;
    v.build = info.dwBuildNumber;
    v.service_pack = Narrow(info.szCSDVersion, wcsnlen(info.szCSDVersion, 128));
    v.known = true;
  }
  return v;
}

std::string OsVersionText(const OsVersion& v) {
  return v.known ? win::FormatWindowsVersion(v.major, v.minor, v.build, v.service_pack)
                 : "Windows (version unknown: RtlGetVersion failed)";
}

Expected<std::vector<ConfigValue>> ReadTcpipParameters() {
  HKEY key = nullptr;
  LONG rc = RegOpenKeyExW(HKEY_LOCAL_MACHINE, Wide(win::kTcpipParametersKey).c_str(), 0,
                          KEY_QUERY_VALUE | KEY_WOW64_64KEY, &key);
  if (rc != ERROR_SUCCESS) {
    return Status::Error(std::string("cannot open HKLM\\") + win::kTcpipParametersKey + ": " +
                         win32::ErrorText(static_cast<DWORD>(rc)) +
                         "; run the agent as a user that can read it (LocalSystem does)");
  }
  std::vector<ConfigValue> out;
  for (const char* name : win::kTcpipParameterNames) {
    const std::wstring wname = Wide(name);
    win::RegistryRead read;
    DWORD type = 0;
    DWORD size = 64;
    for (int attempt = 0; attempt < 3; ++attempt) {
      read.data.resize(size);
      rc = RegQueryValueExW(key, wname.c_str(), nullptr, &type, read.data.data(), &size);
      if (rc != ERROR_MORE_DATA) break;
    }
    if (rc == ERROR_SUCCESS) {
      read.found = true;
      read.type = type;
      read.data.resize(size);
    } else if (rc != ERROR_FILE_NOT_FOUND) {
      RegCloseKey(key);
      return Status::Error(std::string("cannot read Tcpip\\Parameters\\") + name + ": " +
                           win32::ErrorText(static_cast<DWORD>(rc)));
    }
    out.push_back(win::MapRegistryValue(std::string("Tcpip.") + name, read));
  }
  RegCloseKey(key);
  return out;
}

// COM smart pointer for the few interfaces used here.
template <typename T>
class ComPtr {
 public:
  ComPtr() = default;
  ~ComPtr() {
    if (p_ != nullptr) p_->Release();
  }
  ComPtr(const ComPtr&) = delete;
  ComPtr& operator=(const ComPtr&) = delete;
  T* operator->() const { return p_; }
  T* get() const { return p_; }
  T** put() { return &p_; }

 private:
  T* p_ = nullptr;
};

class Bstr {
 public:
  explicit Bstr(const wchar_t* s) : b_(SysAllocString(s)) {}
  ~Bstr() { SysFreeString(b_); }
  Bstr(const Bstr&) = delete;
  Bstr& operator=(const Bstr&) = delete;
  operator BSTR() const { return b_; }  // NOLINT: passes straight into WMI calls

 private:
  BSTR b_;
};

std::string HresultText(HRESULT hr) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08lX", static_cast<unsigned long>(hr));
  return buf;
}

// Reads an unsigned integer property; false when WMI returns it as NULL or not a number.
bool GetUint(IWbemClassObject* obj, const wchar_t* name, uint32_t* out) {
  VARIANT v;
  VariantInit(&v);
  if (FAILED(obj->Get(name, 0, &v, nullptr, nullptr))) return false;
  bool ok = v.vt != VT_NULL && v.vt != VT_EMPTY &&
            SUCCEEDED(VariantChangeType(&v, &v, 0, VT_UI4));
  if (ok) *out = v.ulVal;
  VariantClear(&v);
  return ok;
}

std::string GetString(IWbemClassObject* obj, const wchar_t* name) {
  VARIANT v;
  VariantInit(&v);
  std::string s;
  if (SUCCEEDED(obj->Get(name, 0, &v, nullptr, nullptr)) && v.vt == VT_BSTR && v.bstrVal) {
    s = Narrow(v.bstrVal, SysStringLen(v.bstrVal));
  }
  VariantClear(&v);
  return s;
}

// Every instance of one MSFT_Net*Setting class from root/StandardCimv2.
Expected<std::vector<win::WmiPortSetting>> QueryPortSettings(const wchar_t* cls) {
  const std::string where = "WMI root/StandardCimv2 " + Narrow(cls, wcslen(cls));
  HRESULT init = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
  // RPC_E_CHANGED_MODE: this thread already has an apartment; COM is usable as it is.
  const bool uninit = SUCCEEDED(init);
  if (FAILED(init) && init != RPC_E_CHANGED_MODE) {
    return Status::Error(where + ": COM could not be initialised (" + HresultText(init) + ")");
  }
  // Process-wide; RPC_E_TOO_LATE means the process (or an earlier call) already set it.
  CoInitializeSecurity(nullptr, -1, nullptr, nullptr, RPC_C_AUTHN_LEVEL_DEFAULT,
                       RPC_C_IMP_LEVEL_IMPERSONATE, nullptr, EOAC_NONE, nullptr);
  auto result = [&]() -> Expected<std::vector<win::WmiPortSetting>> {
    ComPtr<IWbemLocator> locator;
    HRESULT hr = CoCreateInstance(CLSID_WbemLocator, nullptr, CLSCTX_INPROC_SERVER,
                                  IID_IWbemLocator, reinterpret_cast<void**>(locator.put()));
    if (FAILED(hr)) {
      return Status::Error(where + ": the WMI locator is not available (" + HresultText(hr) + ")");
    }
    ComPtr<IWbemServices> services;
    // With USE_MAX_WAIT the connect gives up after about two minutes instead of waiting on a
    // hung WMI service for good.
    hr = locator->ConnectServer(Bstr(L"ROOT\\StandardCimv2"), nullptr, nullptr, nullptr,
                                WBEM_FLAG_CONNECT_USE_MAX_WAIT, nullptr, nullptr, services.put());
    if (FAILED(hr)) {
      return Status::Error(where + ": cannot connect to the namespace (" + HresultText(hr) +
                           "); it exists from Windows 8 / Server 2012 on");
    }
    CoSetProxyBlanket(services.get(), RPC_C_AUTHN_WINNT, RPC_C_AUTHZ_NONE, nullptr,
                      RPC_C_AUTHN_LEVEL_CALL, RPC_C_IMP_LEVEL_IMPERSONATE, nullptr, EOAC_NONE);
    const std::wstring query = std::wstring(L"SELECT * FROM ") + cls;
    ComPtr<IEnumWbemClassObject> rows;
    hr = services->ExecQuery(Bstr(L"WQL"), Bstr(query.c_str()),
                             WBEM_FLAG_FORWARD_ONLY | WBEM_FLAG_RETURN_IMMEDIATELY, nullptr,
                             rows.put());
    if (FAILED(hr)) {
      return Status::Error(where + ": the query failed (" + HresultText(hr) + ")");
    }
    std::vector<win::WmiPortSetting> out;
    for (;;) {
      ComPtr<IWbemClassObject> obj;
      ULONG got = 0;
      // A bounded wait: a hung WMI provider must not stall the collection loop.
      hr = rows->Next(10000, 1, obj.put(), &got);
      if (hr == WBEM_S_TIMEDOUT) {
        return Status::Error(where + ": no answer within 10 s");
      }
      if (FAILED(hr)) {
        return Status::Error(where + ": reading the instances failed (" + HresultText(hr) + ")");
      }
      if (got == 0) break;
      win::WmiPortSetting s;
      s.setting_name = GetString(obj.get(), L"SettingName");
      s.has_dynamic = GetUint(obj.get(), L"DynamicPortRangeStartPort", &s.dynamic_start) &&
                      GetUint(obj.get(), L"DynamicPortRangeNumberOfPorts", &s.dynamic_count);
      s.has_auto_reuse =
          GetUint(obj.get(), L"AutoReusePortRangeStartPort", &s.auto_reuse_start) &&
          GetUint(obj.get(), L"AutoReusePortRangeNumberOfPorts", &s.auto_reuse_count);
      out.push_back(std::move(s));
    }
    return out;
  }();
  if (uninit) CoUninitialize();
  return result;
}

// Runs a system command without a window and returns what it printed, at most 64 KiB and
// 10 s: netsh is quick, but a hung one must not hold the sample.
Expected<std::string> RunCapture(const wchar_t* command) {
  SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!CreatePipe(&read_end, &write_end, &sa, 0)) {
    return Status::Error("cannot create a pipe: " + win32::ErrorText(GetLastError()));
  }
  win32::UniqueHandle reader(read_end), writer(write_end);
  SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdOutput = write_end;
  si.hStdError = write_end;
  si.hStdInput = nullptr;
  PROCESS_INFORMATION pi{};
  std::wstring line(command);
  if (!CreateProcessW(nullptr, line.data(), nullptr, nullptr, TRUE, CREATE_NO_WINDOW, nullptr,
                      nullptr, &si, &pi)) {
    return Status::Error("cannot run '" + Narrow(command, wcslen(command)) +
                         "': " + win32::ErrorText(GetLastError()));
  }
  win32::UniqueHandle process(pi.hProcess), thread(pi.hThread);
  writer.reset();  // the child holds the only write end now: EOF when it exits
  std::string out;
  const ULONGLONG deadline = GetTickCount64() + 10000;
  for (;;) {
    DWORD avail = 0;
    if (!PeekNamedPipe(read_end, nullptr, 0, nullptr, &avail, nullptr)) break;  // child gone
    if (avail > 0) {
      char buf[4096];
      DWORD got = 0;
      if (!ReadFile(read_end, buf, std::min<DWORD>(avail, sizeof buf), &got, nullptr)) break;
      out.append(buf, got);
      if (out.size() > (64u << 10)) break;
      continue;
    }
    if (GetTickCount64() > deadline) {
      TerminateProcess(process.get(), 1);
      return Status::Error("'" + Narrow(command, wcslen(command)) + "' gave no answer in 10 s");
    }
    WaitForSingleObject(process.get(), 20);
  }
  return out;
}

win::DynamicPorts ReadDynamicPorts(const OsVersion& os,
                                   const std::vector<ConfigValue>& parameters) {
  win::DynamicPorts d;
  if (os.known && os.major < 6) {
    for (const ConfigValue& v : parameters) {
      if (v.key != "Tcpip.MaxUserPort") continue;
      auto range = win::MaxUserPortRange(v);
      if (range.ok()) {
        d.source = "MaxUserPort";
        d.tcp = d.udp = *range;
      } else {
        d.unknown_reason = range.error();
      }
    }
    return d;
  }
  auto tcp = QueryPortSettings(L"MSFT_NetTCPSetting");
  auto tcp_choice = tcp.ok() ? win::ChooseWmiPortSetting(*tcp, "MSFT_NetTCPSetting")
                             : Expected<win::WmiPortSetting>(tcp.status());
  if (!tcp_choice.ok()) {
    // Vista to 2008 R2 (and Wine) have no MSFT_NetTCPSetting: netsh, read by its numbers.
    auto text = RunCapture(L"netsh.exe int ipv4 show dynamicport tcp");
    auto range = text.ok() ? win::ParseNetshDynamicPort(*text) : Expected<PortRange>(text.status());
    if (range.ok()) {
      d.source = "netsh";
      d.tcp = *range;
      auto udp_text = RunCapture(L"netsh.exe int ipv4 show dynamicport udp");
      auto udp = udp_text.ok() ? win::ParseNetshDynamicPort(*udp_text)
                               : Expected<PortRange>(udp_text.status());
      if (udp.ok()) d.udp = *udp;
      return d;
    }
    // Last resort: the documented default of this OS version, said to be assumed.
    d.source = "assumed";
    d.tcp = d.udp = win::DocumentedDefaultDynamicRange(os.known ? os.major : 6);
    d.unknown_reason = "the documented default of this Windows version, as neither " +
                       tcp_choice.error() + " nor netsh (" + range.error() + ") answered";
    return d;
  }
  d.source = "wmi";
  d.tcp = *win::RangeFromStartAndCount(tcp_choice->dynamic_start, tcp_choice->dynamic_count);
  if (tcp_choice->has_auto_reuse && tcp_choice->auto_reuse_count > 0) {
    auto reuse = win::RangeFromStartAndCount(tcp_choice->auto_reuse_start,
                                             tcp_choice->auto_reuse_count);
    if (reuse.ok()) d.tcp_auto_reuse = *reuse;
  }
  auto udp = QueryPortSettings(L"MSFT_NetUDPSetting");
  if (udp.ok()) {
    auto udp_choice = win::ChooseWmiPortSetting(*udp, "MSFT_NetUDPSetting");
    if (udp_choice.ok()) {
      d.udp = *win::RangeFromStartAndCount(udp_choice->dynamic_start, udp_choice->dynamic_count);
    }
  }
  return d;
}

// One read of the ranges with their exclusions: WMI (four COM round trips, tens of milliseconds
// when healthy), else netsh. Runs on the refresher's thread only.
win::DynamicPorts ReadAllDynamicPorts() {
  const OsVersion os = ReadOsVersion();
  auto parameters = ReadTcpipParameters();
  win::DynamicPorts cached =
      ReadDynamicPorts(os, parameters.ok() ? *parameters : std::vector<ConfigValue>{});
  // Blocks Hyper-V, WinNAT or Docker reserved inside the range are not handed out; clipped to
  // the range connects draw from (AutoReusePortRange where enabled).
  const PortRange applicable = win::ApplicableTcpRange(cached);
  if (!applicable.empty()) {
    auto text = RunCapture(L"netsh.exe int ipv4 show excludedportrange protocol=tcp");
    if (text.ok()) {
      auto excluded = win::ParseNetshExcludedPortRanges(*text, applicable);
      if (excluded.ok()) cached.tcp_excluded = std::move(*excluded);
    }
  }
  return cached;
}

// ReadTcpConfig and ReadEphemeralPorts, called every sample, take the ranges from a thread of
// their own (windows_range_refresher.h) that reads them at start and every minute: they change
// rarely (netsh / Set-NetTCPSetting), and a hung WMI then blocks neither a report nor a stop.
// Only the first sample waits, briefly, so that a healthy host's first report has its range.
win::DynamicPorts CurrentDynamicPorts() {
  static win::RangeRefresher refresher(ReadAllDynamicPorts, std::chrono::minutes(1));
  static std::once_flag first;
  std::call_once(first, [] { refresher.WaitForFirst(std::chrono::seconds(15)); });
  if (auto d = refresher.Latest()) return *d;
  win::DynamicPorts none;
  none.unknown_reason =
      "neither WMI nor netsh has answered yet (they are asked on a thread of their own; the "
      "range is reported once one does)";
  return none;
}

}  // namespace

Expected<ConfigSnapshot> ReadTcpConfig(const std::string& /*root*/) {
  OsVersion os = ReadOsVersion();
  auto params = ReadTcpipParameters();
  if (!params.ok()) return params.status();
  return win::BuildWindowsConfig(OsVersionText(os), *params, CurrentDynamicPorts());
}

Expected<EphemeralPorts> ReadEphemeralPorts(const std::string& /*root*/) {
  return win::EphemeralPortsFor(CurrentDynamicPorts());
}

}  // namespace portwatch::agent

// The Windows agent's mapping from raw Win32 data to the model, kept free of Windows headers so
// that it is tested on every OS with recorded inputs: iphlpapi table buffers (MIB rows), registry
// values, WMI port settings, Tcpip event XML and the event bookmark state file. The *_windows.cc
// files only fetch these raw inputs and hand them here. One implementation file per concern:
// windows_socket_rows.cc, windows_registry.cc (values and the config snapshot),
// windows_port_settings.cc (WMI ranges), windows_event_xml.cc, windows_event_state.cc (bookmark
// JSON), windows_process_names.cc, windows_command_line.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collect/process_attribution.h"
#include "collect/tcp_config.h"
#include "collect/tcp_config.h"
#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent::win {

// ---- Socket tables ------------------------------------------------------------------------------

/// MIB_TCP_STATE values (tcpmib.h). kMibTcpStateReserved (100) is not a MIB state: Windows uses
/// it for bound-only endpoints (Get-NetTCPConnection shows them as "Bound").
inline constexpr uint32_t kMibTcpStateClosed = 1;
inline constexpr uint32_t kMibTcpStateListen = 2;
inline constexpr uint32_t kMibTcpStateSynSent = 3;
inline constexpr uint32_t kMibTcpStateSynRcvd = 4;
inline constexpr uint32_t kMibTcpStateEstab = 5;
inline constexpr uint32_t kMibTcpStateFinWait1 = 6;
inline constexpr uint32_t kMibTcpStateFinWait2 = 7;
inline constexpr uint32_t kMibTcpStateCloseWait = 8;
inline constexpr uint32_t kMibTcpStateClosing = 9;
inline constexpr uint32_t kMibTcpStateLastAck = 10;
inline constexpr uint32_t kMibTcpStateTimeWait = 11;
inline constexpr uint32_t kMibTcpStateDeleteTcb = 12;
inline constexpr uint32_t kMibTcpStateReserved = 100;

/// Maps a MIB_TCP_STATE to the model's state (kUnknown for values Windows does not define).
TcpState MibTcpState(uint32_t state);

/// The row layouts of the tables iphlpapi returns. All are arrays of little-endian DWORDs after a
/// DWORD dwNumEntries; addresses are in network byte order, ports in network byte order in the
/// low 16 bits of their DWORD.
enum class TcpRowLayout : uint8_t {
  kOwnerPid4,  ///< MIB_TCPROW_OWNER_PID: GetExtendedTcpTable(AF_INET, TCP_TABLE_OWNER_PID_ALL)
  kOwnerPid6,  ///< MIB_TCP6ROW_OWNER_PID: GetExtendedTcpTable(AF_INET6, TCP_TABLE_OWNER_PID_ALL)
  kRow2v4,     ///< MIB_TCPROW2: GetTcpTable2, InternalGetBoundTcpEndpointTable
  kRow2v6,     ///< MIB_TCP6ROW2: GetTcp6Table2, InternalGetBoundTcp6EndpointTable
};

/// Byte offsets of the fields in one row; the Windows build checks them against the SDK structs
/// with static_assert, so a wrong offset fails to compile rather than misreads.
struct TcpRowOffsets {
  size_t size;
  size_t state, local_addr, local_port, remote_addr, remote_port, pid;
};
constexpr TcpRowOffsets RowOffsets(TcpRowLayout layout) {
  switch (layout) {
    case TcpRowLayout::kOwnerPid4: return {24, 0, 4, 8, 12, 16, 20};
    case TcpRowLayout::kRow2v4: return {28, 0, 4, 8, 12, 16, 20};  // + dwOffloadState
    case TcpRowLayout::kOwnerPid6: return {56, 48, 0, 20, 24, 44, 52};
    case TcpRowLayout::kRow2v6: return {60, 48, 0, 20, 24, 44, 52};  // + dwOffloadState
  }
  return {0, 0, 0, 0, 0, 0, 0};
}
Family LayoutFamily(TcpRowLayout layout);
/// Offset of the first row in a table (after dwNumEntries).
inline constexpr size_t kTableRowsOffset = 4;

/// Parses a table buffer of `len` bytes and appends its rows to `out`. When `bound_table` is set
/// (the InternalGetBound*EndpointTable exports) every row is a bound-only socket (kBound)
/// whatever its state field says. A buffer shorter than its dwNumEntries claims is an error and
/// appends nothing.
Status ParseTcpTable(const uint8_t* data, size_t len, TcpRowLayout layout, bool bound_table,
                     std::vector<SocketEntry>* out);

/// How often the size-query/fetch pair is retried when the table grows in between.
inline constexpr int kTableFetchAttempts = 5;

/// Runs the "ask for the size, allocate, fetch" protocol of the iphlpapi table calls with a
/// bounded retry: `fetch(buffer, &size)` returns kFetchOk, kFetchTooSmall (size updated to what
/// is needed now) or any other value as an error code. Returns the filled buffer (resized to
/// the size reported) or an error naming `what` and the code.
inline constexpr uint32_t kFetchOk = 0;
inline constexpr uint32_t kFetchTooSmall = 122;  // ERROR_INSUFFICIENT_BUFFER
Expected<std::vector<uint8_t>> FetchTable(
    const std::function<uint32_t(std::vector<uint8_t>* buffer, uint32_t* size)>& fetch,
    const std::string& what);

/// Why bound-only sockets are not in a scan, if they are not: set by the socket table and
/// reported as a degraded source so a zero BOUND count is never read as "none".
struct BoundTableStatus {
  bool available = false;
  std::string reason;  ///< when !available: what is missing and what it means
};

// ---- Registry and configuration ------------------------------------------------------------------

/// Registry value types (winnt.h).
inline constexpr uint32_t kRegSz = 1;
inline constexpr uint32_t kRegExpandSz = 2;
inline constexpr uint32_t kRegBinary = 3;
inline constexpr uint32_t kRegDword = 4;
inline constexpr uint32_t kRegMultiSz = 7;
inline constexpr uint32_t kRegQword = 11;

/// The Tcpip\Parameters values the agent reports, in report order.
extern const char* const kTcpipParameterNames[10];
/// HKLM subkey they live under.
inline constexpr char kTcpipParametersKey[] = "SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters";

/// One value as RegQueryValueEx returned it.
struct RegistryRead {
  bool found = false;  ///< false: the value does not exist (the OS default applies)
  uint32_t type = 0;
  std::vector<uint8_t> data;
};

/// Maps a registry value to a typed config value named `key`: absent stays absent (present =
/// false, never 0); a REG_DWORD / REG_QWORD is an int; any other type (a REG_SZ "30" typed by
/// hand, a 2-byte DWORD) is reported present as a string describing what is there, so the
/// misconfiguration is visible instead of silently read as a number.
ConfigValue MapRegistryValue(const std::string& key, const RegistryRead& read);

/// "Windows 10.0.19045" or "Windows 5.2.3790 Service Pack 2" from RtlGetVersion's fields.
std::string FormatWindowsVersion(uint32_t major, uint32_t minor, uint32_t build,
                                 const std::string& service_pack);

/// One MSFT_NetTCPSetting / MSFT_NetUDPSetting instance as WMI returned it (a property WMI
/// returned as NULL has its has_* flag false).
struct WmiPortSetting {
  std::string setting_name;
  bool has_dynamic = false;
  uint32_t dynamic_start = 0;
  uint32_t dynamic_count = 0;
  bool has_auto_reuse = false;
  uint32_t auto_reuse_start = 0;
  uint32_t auto_reuse_count = 0;
};

/// The dynamic port ranges of a host and where they came from.
struct DynamicPorts {
  /// "wmi" (MSFT_NetTCPSetting / MSFT_NetUDPSetting), "netsh" (its dynamicport output, where
  /// WMI lacks the class), "MaxUserPort" (pre-Vista registry), "assumed" (the OS version's
  /// documented default: `unknown_reason` says why) or "" when no source could answer; then
  /// `unknown_reason` says why and the ranges are empty.
  std::string source;
  PortRange tcp;
  PortRange udp;
  PortRange tcp_auto_reuse;  ///< empty where the OS has none or it is disabled (0 ports)
  /// excluded port ranges (netsh) inside the applicable range (ApplicableTcpRange)
  std::vector<PortRange> tcp_excluded;
  std::string unknown_reason;
};

/// The TCP range outbound connects draw from: AutoReusePortRange where it is enabled (a
/// non-empty range; WMI reports 0 ports when disabled), else the dynamic range.
PortRange ApplicableTcpRange(const DynamicPorts& ports);

/// What ReadEphemeralPorts reports for these ranges: the applicable range (capacity and the
/// ports counted), its exclusions, where it came from, and the reason when it is assumed; an
/// error when no source answered.
Expected<EphemeralPorts> EphemeralPortsFor(const DynamicPorts& ports);

/// Picks the host's dynamic range from the WMI instances of one protocol. The range is global,
/// repeated in every setting template; some templates (Automatic) carry none. Prefers
/// "Internet", then the first instance with a range; an error when none has a valid one.
Expected<WmiPortSetting> ChooseWmiPortSetting(const std::vector<WmiPortSetting>& settings,
                                              const std::string& what);
/// start + count as an inclusive range; an error when it leaves 1..65535.
Expected<PortRange> RangeFromStartAndCount(uint32_t start, uint32_t count);

/// Pre-Vista hosts hand out 1025..MaxUserPort (default 5000, documented range 5000-65534).
Expected<PortRange> MaxUserPortRange(const ConfigValue& max_user_port);

/// The config snapshot the Windows agent reports: Tcpip\Parameters values under
/// "Tcpip.<Name>" (sorted by key), the dynamic ranges under "Tcpip.DynamicPortRange.*" with
/// their source, and the OS version.
ConfigSnapshot BuildWindowsConfig(const std::string& os_version,
                                  const std::vector<ConfigValue>& parameters,
                                  const DynamicPorts& ports);

// ---- Tcpip events --------------------------------------------------------------------------------

/// The Tcpip event ids counted (netevent.h): 4226 half-open connect limit, 4227 TIME_WAIT
/// 4-tuple collision, 4231 TCP ephemeral ports exhausted, 4265 UDP limit, 4266 UDP ephemeral
/// ports exhausted.
inline constexpr uint32_t kTcpipEventIds[] = {4226, 4227, 4231, 4265, 4266};

/// The XPath query for EvtSubscribe on the System channel.
std::string TcpipEventQuery();

struct TcpipEvent {
  uint32_t id = 0;
  int64_t unix_ms = 0;
};

/// Parses one event as EvtRender(EvtRenderEventXml) gives it. Errors for malformed XML, another
/// provider, an id not counted or an unreadable TimeCreated.
Expected<TcpipEvent> ParseTcpipEventXml(std::string_view xml);

/// "2024-03-01T10:20:30.1234567Z" (the SystemTime attribute) to Unix milliseconds.
Expected<int64_t> ParseSystemTime(std::string_view text);

/// Counts per event id and the bookmark of the last event counted, persisted together so a
/// restart neither misses nor double-counts.
struct EventState {
  struct Count {
    uint64_t value = 0;
    int64_t last_unix_ms = 0;
  };
  std::map<uint32_t, Count> counts;
  std::string bookmark_xml;  ///< EvtRender(EvtRenderBookmark) output; empty before any event

  void Apply(const TcpipEvent& e);
  /// "Tcpip.4226".."Tcpip.4266", every id present (0 when never seen), sorted by name.
  std::vector<EventCounter> Counters() const;
};

std::string SerializeEventState(const EventState& state);
/// Parses what SerializeEventState wrote; an error (the caller starts afresh and says so) for
/// anything else.
Expected<EventState> ParseEventState(const std::string& text);

// ---- Processes ---------------------------------------------------------------------------------

/// "w3wp.exe" from "C:\Windows\System32\inetsrv\w3wp.exe".
std::string ImageBaseName(const std::string& path);

/// Process names by PID, cached by PID and process start time so a reused PID is looked up
/// afresh. The two lookups are the OS calls (GetProcessTimes; OpenProcess +
/// QueryFullProcessImageName on Windows), injected so the cache is tested anywhere.
class ProcessNameCache {
 public:
  /// Start time of a live process; false if it cannot be opened (gone, or access denied).
  using StartTimeFn = std::function<bool(uint32_t pid, uint64_t* start_time)>;
  /// Full image path; false if unknown.
  using ImagePathFn = std::function<bool(uint32_t pid, std::string* path)>;

  ProcessNameCache(StartTimeFn start_time, ImagePathFn image_path);

  /// Looks up every PID in `pids` (0 ignored) that is new or whose start time changed, and
  /// forgets PIDs no longer listed.
  void Refresh(const std::vector<uint32_t>& pids);
  const ProcessInfo* Info(uint32_t pid) const;
  /// Image path lookups done so far (each is an OpenProcess on Windows).
  uint64_t path_lookups() const { return path_lookups_; }

 private:
  struct Entry {
    uint64_t start_time = 0;
    ProcessInfo info;
  };
  StartTimeFn start_time_;
  ImagePathFn image_path_;
  std::unordered_map<uint32_t, Entry> entries_;
  uint64_t path_lookups_ = 0;
};

// ---- Command lines -------------------------------------------------------------------------------

/// Quotes one argument so that CommandLineToArgvW (and the C runtime) split it back unchanged:
/// for the service's command line, whose paths usually contain spaces.
std::string QuoteWindowsArgument(const std::string& arg);

}  // namespace portwatch::agent::win

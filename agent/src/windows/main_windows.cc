// portwatch-agent.exe: the Windows agent. Same collection and summary as on Linux
// (src/sampler.h, src/summary.h); Windows-specific are the probes in collect/*_windows.cc,
// the service plumbing (service.h) and this entry point.
//
//   portwatch-agent.exe snapshot [--json]          one local report, no collector needed
//   portwatch-agent.exe run [options]              collect every interval (console; Ctrl-C stops)
//   portwatch-agent.exe run --service [options]    the same under the service control manager
//   portwatch-agent.exe install-service --config C:\ProgramData\portwatch\agent.ini
//   portwatch-agent.exe uninstall-service
#include <windows.h>
#include <shellapi.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "collect/event_source_windows.h"
#include "collect/process_attribution.h"
#include "collect/socket_table.h"
#include "collect/windows_mapping.h"
#include "portwatch/files.h"
#include "portwatch/win32.h"
#include "src/agent_core.h"
#include "src/agent_util.h"
#include "src/log.h"
#include "src/windows/event_log.h"
#include "src/audit_command.h"
#include "src/sampler.h"
#include "src/report_format.h"
#include "src/report_sink.h"
#include "src/windows/service.h"

#ifndef PORTWATCH_VERSION
#define PORTWATCH_VERSION "0.0.0"
#endif

namespace pa = portwatch::agent;
namespace pw = portwatch;
using pw::win32::Narrow;
using pw::win32::Wide;

namespace {

// agent.log rotates to agent.log.1 at this size: at most about 20 MiB of log on disk.
constexpr uint64_t kLogFileMaxBytes = 10ull << 20;
HANDLE g_console_stop = nullptr;

int Fail(const std::string& msg) {
  pa::LogError(msg);
  return 2;
}

// Lower-cased: Windows keeps the case the name was typed in at setup ("WEB01"), DNS names are
// case-insensitive, and certificates carry them in lower case.
std::string LocalHostName() {
  wchar_t buf[256];
  DWORD n = 256;
  if (!GetComputerNameExW(ComputerNameDnsHostname, buf, &n)) return "localhost";
  std::string name = Narrow(buf, n);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return name;
}

std::string ExecutablePath() {
  std::wstring buf(MAX_PATH, L'\0');
  for (;;) {
    DWORD n = GetModuleFileNameW(nullptr, buf.data(), static_cast<DWORD>(buf.size()));
    if (n < buf.size()) return Narrow(buf.data(), n);
    buf.resize(buf.size() * 2);
  }
}

BOOL WINAPI OnConsoleCtrl(DWORD /*type*/) {
  if (g_console_stop != nullptr) SetEvent(g_console_stop);
  return TRUE;  // handled: the loop stops cleanly instead of the process being killed
}

struct RunSettings {
  pa::CoreFlags core;
  std::string data_dir;
  int64_t interval_ms = 15000;
  pa::SinkOptions sink;
};

// The shared sampler on the Windows probes, with the event bookmark kept in the data directory.
pa::Sampler MakeSampler(const RunSettings& s) {
  CreateDirectoryW(Wide(s.data_dir).c_str(), nullptr);
  return pa::Sampler(pa::MakeSocketTable(), pa::MakeProcessAttribution(),
                     pa::MakeWindowsEventSource(s.data_dir + "\\tcpip-events.json"),
                     pa::SamplerOptionsFor(s.core));
}

// The shared run loop (agent_core.h) on Windows: a stop is the event the console handler or
// the service control handler sets.
int RunAgent(const RunSettings& s, HANDLE stop) {
  pa::Sampler sampler = MakeSampler(s);
  auto probe = pa::ProbeHost(&sampler);
  if (!probe.ok()) return Fail(probe.error());
  pa::HostFacts host;
  host.os = pw::OsKind::kWindows;
  host.os_version = probe->has_config ? probe->config.os_version : "Windows";
  const pw::AgentHello hello =
      pa::MakeHello(s.core.host_name, host, s.interval_ms, PORTWATCH_VERSION);
  auto sink = pa::StartReportSink(s.sink, hello);
  if (!sink.ok()) return Fail(sink.error());
  pa::LogInfo("reporting as '" + s.core.host_name + "' every " + std::to_string(s.interval_ms) +
              " ms");
  pa::RunHooks hooks;
  hooks.sample = [&](pw::Report* r) { return sampler.Sample(r); };
  hooks.wait_for_stop = [stop](std::chrono::nanoseconds wait) {
    // Rounded up: a wait rounded down to 0 ms would spin until the deadline.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    return WaitForSingleObject(stop, static_cast<DWORD>(ms)) == WAIT_OBJECT_0;
  };
  pa::RunCollection(hooks, std::chrono::milliseconds(s.interval_ms), sink->get());
  pa::LogInfo("stopping");
  (*sink)->Stop();
  return 0;
}

int Snapshot(const RunSettings& s, bool json) {
  pa::Sampler sampler = MakeSampler(s);
  pw::Report r;
  pw::Status st = sampler.Sample(&r);
  if (!st.ok()) return Fail(st.message());
  const std::string& host = s.core.host_name;
  std::fputs((json ? pa::ReportToJson(host, r) : pa::ReportToTable(host, r)).c_str(), stdout);
  return 0;
}

// UTF-8 argv from the UTF-16 command line: main's argv is in the ANSI code page and would
// mangle non-ASCII paths.
std::vector<std::string> Utf8Args() {
  int argc = 0;
  wchar_t** wargv = CommandLineToArgvW(GetCommandLineW(), &argc);
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) args.push_back(Narrow(wargv[i], wcslen(wargv[i])));
  LocalFree(wargv);
  return args;
}

}  // namespace

int main() {
  std::vector<std::string> args = Utf8Args();
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());

  CLI::App app{
      "portwatch-agent: watches this host's TCP ports (socket states, ephemeral range use, "
      "Tcpip events) and reports them to a portwatch collector."};
  app.set_version_flag("--version", PORTWATCH_VERSION);
  app.require_subcommand(1);
  app.set_config("--config", "",
                 "Read options from this INI file: a [run] section, keys as long flags");

  RunSettings s;
  s.core.host_name = LocalHostName();
  s.data_dir = pa::DefaultWindowsDataDir();
  bool as_service = false;
  std::string service_name = pa::service::kDefaultServiceName;

  CLI::App* run = app.add_subcommand("run", "Collect every interval and report");
  pa::AddRunFlags(run, &s.core);
  run->add_option("--data-dir", s.data_dir,
                  "Directory for the event bookmark and, under the SCM, agent.log")
      ->capture_default_str();
  run->add_flag("--service", as_service,
                "Run under the service control manager (the installed service's command line)");
  run->add_option("--service-name", service_name, "Service name under the SCM")
      ->capture_default_str();
  pa::AddSinkOptions(run, &s.sink);

  bool json = false;
  CLI::App* snapshot = app.add_subcommand("snapshot", "Print one report of this host and exit");
  snapshot->add_flag("--json", json, "JSON (with top processes, destinations, config, events)");
  snapshot->add_option("--data-dir", s.data_dir, "Directory for the event bookmark")
      ->capture_default_str();
  pa::AddTopKFlag(snapshot, &s.core.top_k);

  pa::service::InstallOptions install;
  std::string install_config;
  CLI::App* inst = app.add_subcommand(
      "install-service", "Install the agent as an automatically started Windows service");
  inst->add_option("--agent-config", install_config,
                   "INI file the service reads its [run] options from")
      ->required();
  inst->add_option("--service-name", install.name, "Service name")->capture_default_str();
  inst->add_option("--account", install.account, "Run as this account (default LocalSystem)");
  inst->add_flag("--start", install.start, "Start the service once installed");

  CLI::App* uninst = app.add_subcommand("uninstall-service", "Stop and remove the service");
  uninst->add_option("--service-name", service_name, "Service name")->capture_default_str();

  pa::AuditFlags audit_flags;
  CLI::App* audit = pa::AddAuditCommand(app, &audit_flags);

  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto parsed_interval = pa::ParseIntervalMs(s.core.interval_text);
  if (!parsed_interval.ok()) return Fail(parsed_interval.error());
  s.interval_ms = *parsed_interval;

  if (snapshot->parsed()) return Snapshot(s, json);
  if (audit->parsed()) {
    pa::Sampler sampler = MakeSampler(s);
    return pa::RunAudit(audit_flags, s.core.host_name, sampler);
  }

  if (inst->parsed()) {
    install.executable = ExecutablePath();
    install.arguments = "--config " + pa::win::QuoteWindowsArgument(install_config) +
                        " run --service --service-name " +
                        pa::win::QuoteWindowsArgument(install.name);
    // The event source first, so a service started by --start can log from its first line.
    pw::Status st = pa::RegisterEventLogSource(install.name, install.executable);
    if (!st.ok()) return Fail(st.message());
    st = pa::service::Install(install);
    if (!st.ok()) {
      (void)pa::UnregisterEventLogSource(install.name);
      return Fail(st.message());
    }
    std::printf("installed service '%s': %s %s\n", install.name.c_str(),
                install.executable.c_str(), install.arguments.c_str());
    return 0;
  }
  if (uninst->parsed()) {
    pw::Status st = pa::service::Uninstall(service_name);
    if (!st.ok()) return Fail(st.message());
    st = pa::UnregisterEventLogSource(service_name);
    if (!st.ok()) return Fail(st.message());
    std::printf("removed service '%s'\n", service_name.c_str());
    return 0;
  }

  if (as_service) {
    CreateDirectoryW(Wide(s.data_dir).c_str(), nullptr);
    // A service has no console: agent.log in the data directory, warnings and errors also in
    // the Application event log.
    auto file = pa::MakeRotatingFileLogSink(s.data_dir + "\\agent.log", kLogFileMaxBytes);
    if (!file.ok()) return Fail(file.error());
    pa::SetLogSink(pa::MakeTeeLogSink(std::move(*file), pa::MakeEventLogSink(service_name)));
    pa::LogInfo("service '" + service_name + "' starting, version " PORTWATCH_VERSION);
    pw::Status st = pa::service::RunUnderScm(service_name, [&](HANDLE stop) {
      return RunAgent(s, stop);
    });
    if (!st.ok()) return Fail(st.message());
    return 0;
  }
  g_console_stop = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  SetConsoleCtrlHandler(OnConsoleCtrl, TRUE);
  return RunAgent(s, g_console_stop);
}

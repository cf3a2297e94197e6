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
#include "src/agent_util.h"
#include "src/audit_command.h"
#include "src/sampler.h"
#include "src/report_format.h"
#include "src/windows/report_sink.h"
#include "src/windows/service.h"

#ifndef PORTWATCH_VERSION
#define PORTWATCH_VERSION "0.0.0"
#endif

namespace pa = portwatch::agent;
namespace pw = portwatch;
using pw::win32::Narrow;
using pw::win32::Wide;

namespace {

constexpr char kProgram[] = "portwatch-agent";

// Log lines go to stderr on a console and to <data-dir>\agent.log under the SCM (a service has
// no console). The file is reopened per line, so it can be rotated or deleted while running.
class Log {
 public:
  void ToFile(std::string path) { path_ = std::move(path); }
  void Line(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_s(&tm, &now);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const std::string line = std::string(stamp) + " " + kProgram + ": " + text + "\n";
    if (path_.empty()) {
      std::fputs(line.c_str(), stderr);
      return;
    }
    FILE* f = _wfopen(Wide(path_).c_str(), L"ab");
    if (f == nullptr) return;
    std::fputs(line.c_str(), f);
    std::fclose(f);
  }

 private:
  std::mutex mu_;
  std::string path_;
};

Log g_log;
HANDLE g_console_stop = nullptr;

int Fail(const std::string& msg) {
  g_log.Line(msg);
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
  std::string host_name;
  std::string data_dir;
  int64_t interval_ms = 15000;
  pa::SinkOptions sink;
  pa::SamplerOptions sampler;
};

// The shared sampler on the Windows probes, with the event bookmark kept in the data directory.
pa::Sampler MakeSampler(const RunSettings& s) {
  CreateDirectoryW(Wide(s.data_dir).c_str(), nullptr);
  return pa::Sampler(pa::MakeSocketTable(), pa::MakeProcessAttribution(),
                     pa::MakeWindowsEventSource(s.data_dir + "\\tcpip-events.json"), s.sampler);
}

// One sample with the scan time the report carries.
pw::Status SampleOnce(pa::Sampler& sampler, pw::Report* r) {
  const auto t0 = std::chrono::steady_clock::now();
  pw::Status st = sampler.Sample(r);
  r->collected_unix_ms = pw::NowUnixMs();
  r->health.scan_duration_us = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return st;
}

// The collection loop, shared by the console and the service: until `stop` is signalled.
int RunLoop(const RunSettings& s, HANDLE stop) {
  pa::Sampler sampler = MakeSampler(s);
  pw::Report report;
  // Fail early on a host without what the agent reads, rather than reporting nothing.
  pw::Status st = SampleOnce(sampler, &report);
  if (!st.ok()) return Fail(st.message());

  pw::AgentHello hello;
  hello.hostname = s.host_name;
  hello.agent_version = PORTWATCH_VERSION;
  hello.os = pw::OsKind::kWindows;
  hello.os_version = report.has_config ? report.config.os_version : "Windows";
  hello.instance_id = pa::RandomHex(16);
  hello.interval_ms = static_cast<uint32_t>(s.interval_ms);
  auto sink = pa::StartReportSink(s.sink, hello);
  if (!sink.ok()) return Fail(sink.error());
  g_log.Line("reporting as '" + s.host_name + "' every " + std::to_string(s.interval_ms) + " ms");

  uint64_t seq = 0;
  std::string last_problem;
  for (;;) {
    std::string problem;
    if (st.ok()) {
      if (report.events.degraded) problem = report.events.degraded_reason;
      report.sequence = ++seq;
      (*sink)->Submit(std::move(report));
    } else {
      problem = "scan failed, will retry: " + st.message();
    }
    // Log a changed problem once, not every interval.
    if (problem != last_problem) {
      g_log.Line(problem.empty() ? "all sources readable again" : problem);
      last_problem = problem;
    }
    if (WaitForSingleObject(stop, static_cast<DWORD>(s.interval_ms)) == WAIT_OBJECT_0) break;
    report = pw::Report{};
    st = SampleOnce(sampler, &report);
  }
  g_log.Line("stopping");
  (*sink)->Stop();
  return 0;
}

int Snapshot(const RunSettings& s, bool json) {
  pa::Sampler sampler = MakeSampler(s);
  pw::Report r;
  pw::Status st = SampleOnce(sampler, &r);
  if (!st.ok()) return Fail(st.message());
  std::fputs((json ? pa::ReportToJson(s.host_name, r) : pa::ReportToTable(s.host_name, r)).c_str(),
             stdout);
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
  s.host_name = LocalHostName();
  s.data_dir = pa::DefaultWindowsDataDir();
  std::string interval_text = "15s";
  bool as_service = false;
  std::string service_name = pa::service::kDefaultServiceName;

  CLI::App* run = app.add_subcommand("run", "Collect every interval and report");
  run->add_option("--host-name", s.host_name, "This host's name; must match its certificate")
      ->capture_default_str();
  run->add_option("--interval", interval_text, "Collection interval, e.g. 15s or 500ms")
      ->capture_default_str();
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

  auto parsed_interval = pa::ParseIntervalMs(interval_text);
  if (!parsed_interval.ok()) return Fail(parsed_interval.error());
  s.interval_ms = *parsed_interval;

  if (snapshot->parsed()) return Snapshot(s, json);
  if (audit->parsed()) {
    pa::Sampler sampler = MakeSampler(s);
    return pa::RunAudit(audit_flags, s.host_name, sampler);
  }

  if (inst->parsed()) {
    install.executable = ExecutablePath();
    install.arguments = "--config " + pa::win::QuoteWindowsArgument(install_config) +
                        " run --service --service-name " +
                        pa::win::QuoteWindowsArgument(install.name);
    pw::Status st = pa::service::Install(install);
    if (!st.ok()) return Fail(st.message());
    std::printf("installed service '%s': %s %s\n", install.name.c_str(),
                install.executable.c_str(), install.arguments.c_str());
    return 0;
  }
  if (uninst->parsed()) {
    pw::Status st = pa::service::Uninstall(service_name);
    if (!st.ok()) return Fail(st.message());
    std::printf("removed service '%s'\n", service_name.c_str());
    return 0;
  }

  if (as_service) {
    CreateDirectoryW(Wide(s.data_dir).c_str(), nullptr);
    g_log.ToFile(s.data_dir + "\\agent.log");
    g_log.Line("service '" + service_name + "' starting, version " PORTWATCH_VERSION);
    pw::Status st = pa::service::RunUnderScm(service_name, [&](HANDLE stop) {
      return RunLoop(s, stop);
    });
    if (!st.ok()) return Fail(st.message());
    return 0;
  }
  g_console_stop = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  SetConsoleCtrlHandler(OnConsoleCtrl, TRUE);
  return RunLoop(s, g_console_stop);
}

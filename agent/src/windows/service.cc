// Service control manager plumbing. The SCM calls ServiceMain on a thread of its dispatcher and
// the control handler on another; they share one stop event and the status handle, kept in a
// file-local struct because the SCM callbacks carry no user pointer into ServiceMain.
#include "src/windows/service.h"

#include "portwatch/win32.h"
#include "src/log.h"

namespace portwatch::agent::service {
namespace {

using win32::ErrorText;
using win32::Wide;

class ScHandle {
 public:
  explicit ScHandle(SC_HANDLE h) : h_(h) {}
  ~ScHandle() {
    if (h_ != nullptr) CloseServiceHandle(h_);
  }
  ScHandle(const ScHandle&) = delete;
  ScHandle& operator=(const ScHandle&) = delete;
  SC_HANDLE get() const { return h_; }

 private:
  SC_HANDLE h_;
};

struct Running {
  std::wstring name;
  ServiceBody body;
  SERVICE_STATUS_HANDLE status_handle = nullptr;
  SERVICE_STATUS status{};
  win32::UniqueHandle stop;
};
Running* g_running = nullptr;

void Report(DWORD state, DWORD exit_code, DWORD wait_hint_ms) {
  static DWORD checkpoint = 1;
  SERVICE_STATUS& s = g_running->status;
  s.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  s.dwCurrentState = state;
  s.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  s.dwServiceSpecificExitCode = exit_code;
  s.dwWaitHint = wait_hint_ms;
  // Stop and shutdown only while running: a second stop while stopping, or one before the
  // service runs, would be accepted and then ignored.
  s.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  s.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : checkpoint++;
  SetServiceStatus(g_running->status_handle, &s);
}

DWORD WINAPI ControlHandler(DWORD control, DWORD /*event_type*/, LPVOID /*event_data*/,
                            LPVOID /*context*/) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      // The body notices the event within one wait; the hint covers a scan in progress.
      Report(SERVICE_STOP_PENDING, 0, 10000);
      SetEvent(g_running->stop.get());
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI ServiceMain(DWORD /*argc*/, LPWSTR* /*argv*/) {
  g_running->status_handle =
      RegisterServiceCtrlHandlerExW(g_running->name.c_str(), ControlHandler, nullptr);
  if (g_running->status_handle == nullptr) return;
  Report(SERVICE_START_PENDING, 0, 5000);
  Report(SERVICE_RUNNING, 0, 0);
  const int code = g_running->body(g_running->stop.get());
  Report(SERVICE_STOPPED, static_cast<DWORD>(code), 0);
}

}  // namespace

Status Install(const InstallOptions& o) {
  ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE));
  if (scm.get() == nullptr) {
    return Status::Error("cannot open the service control manager: " + ErrorText(GetLastError()) +
                         "; run the install from an elevated (administrator) prompt");
  }
  const std::wstring name = Wide(o.name);
  const std::wstring command =
      Wide("\"" + o.executable + "\"" + (o.arguments.empty() ? "" : " " + o.arguments));
  const std::wstring account = Wide(o.account);
  // Started after the Event Log service: the agent subscribes to the System log at start, and
  // at boot the subscription would otherwise race the service that serves it.
  static const wchar_t kDependencies[] = L"EventLog\0";  // a double-NUL-ended list
  ScHandle svc(CreateServiceW(scm.get(), name.c_str(), L"portwatch agent",
                              SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                              SERVICE_ERROR_NORMAL, command.c_str(), nullptr, nullptr,
                              kDependencies, o.account.empty() ? nullptr : account.c_str(),
                              nullptr));
  if (svc.get() == nullptr) {
    DWORD err = GetLastError();
    return Status::Error("cannot create service '" + o.name + "': " + ErrorText(err) +
                         (err == ERROR_SERVICE_EXISTS ? "; uninstall it first" : ""));
  }
  std::wstring text =
      L"Watches this host's TCP ports (socket states, ephemeral range use, Tcpip events) for "
      L"port exhaustion and reports to a portwatch collector.";
  SERVICE_DESCRIPTIONW description{text.data()};
  ChangeServiceConfig2W(svc.get(), SERVICE_CONFIG_DESCRIPTION, &description);
  // Restart after a crash: 5 s, 30 s, then every 60 s; the failure count resets after a day.
  SC_ACTION actions[3] = {{SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 30000},
                          {SC_ACTION_RESTART, 60000}};
  SERVICE_FAILURE_ACTIONSW failure{};
  failure.dwResetPeriod = 86400;
  failure.cActions = 3;
  failure.lpsaActions = actions;
  // A service left half-configured would be restarted on crashes only, silently: remove it.
  auto fail = [&svc](std::string message) {
    DeleteService(svc.get());
    return Status::Error(std::move(message));
  };
  if (!ChangeServiceConfig2W(svc.get(), SERVICE_CONFIG_FAILURE_ACTIONS, &failure)) {
    return fail("service '" + o.name + "' not installed: its restart actions could not be set: " +
                ErrorText(GetLastError()));
  }
  // Also when the agent stops with an error of its own (a first scan failing at boot, a bad
  // certificate), not only after a crash.
  SERVICE_FAILURE_ACTIONS_FLAG on_error{TRUE};
  if (!ChangeServiceConfig2W(svc.get(), SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &on_error)) {
    const DWORD err = GetLastError();
    if (err != ERROR_INVALID_LEVEL) {
      return fail("service '" + o.name + "' not installed: restart on error exit could not be " +
                  "set: " + ErrorText(err));
    }
    // Windows before Vista / 2008 (and Wine) lack this setting: the restart applies to crashes
    // only there. Said, not fatal: the service still runs.
    LogWarning("service '" + o.name + "': this Windows cannot restart a service after an error "
               "exit (SERVICE_CONFIG_FAILURE_ACTIONS_FLAG: " + ErrorText(err) +
               "); it is restarted after a crash only");
  }
  if (o.start && !StartServiceW(svc.get(), 0, nullptr)) {
    return Status::Error("service '" + o.name + "' installed but did not start: " +
                         ErrorText(GetLastError()) + "; see its log file");
  }
  return Status::Ok();
}

Status Uninstall(const std::string& name) {
  ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  if (scm.get() == nullptr) {
    return Status::Error("cannot open the service control manager: " + ErrorText(GetLastError()) +
                         "; run from an elevated (administrator) prompt");
  }
  ScHandle svc(OpenServiceW(scm.get(), Wide(name).c_str(),
                            SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE));
  if (svc.get() == nullptr) {
    return Status::Error("cannot open service '" + name + "': " + ErrorText(GetLastError()));
  }
  // The process to wait for: STOPPED is reported before the process has exited, and until it
  // has, its executable cannot be replaced.
  win32::UniqueHandle process;
  SERVICE_STATUS_PROCESS sp{};
  DWORD needed = 0;
  if (QueryServiceStatusEx(svc.get(), SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&sp),
                           sizeof sp, &needed) &&
      sp.dwProcessId != 0) {
    process.reset(OpenProcess(SYNCHRONIZE, FALSE, sp.dwProcessId));
  }
  SERVICE_STATUS status{};
  if (ControlService(svc.get(), SERVICE_CONTROL_STOP, &status)) {
    for (int i = 0; i < 300 && status.dwCurrentState != SERVICE_STOPPED; ++i) {
      Sleep(100);  // the SCM offers no wait on a state change short of notifications
      if (!QueryServiceStatus(svc.get(), &status)) break;
    }
  }
  if (process.valid() && WaitForSingleObject(process.get(), 30000) != WAIT_OBJECT_0) {
    return Status::Error("service '" + name + "' did not exit within 30 s; end process " +
                         std::to_string(sp.dwProcessId) + " and uninstall again");
  }
  if (!DeleteService(svc.get())) {
    return Status::Error("cannot delete service '" + name + "': " + ErrorText(GetLastError()));
  }
  return Status::Ok();
}

Status RunUnderScm(const std::string& name, ServiceBody body) {
  Running running;
  running.name = Wide(name);
  running.body = std::move(body);
  running.stop.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  g_running = &running;
  SERVICE_TABLE_ENTRYW table[] = {{running.name.data(), ServiceMain}, {nullptr, nullptr}};
  const BOOL ok = StartServiceCtrlDispatcherW(table);
  const DWORD err = GetLastError();
  g_running = nullptr;
  if (!ok) {
    return Status::Error(
        "not started by the service control manager (" + ErrorText(err) +
        "); install it with `portwatch-agent install-service`, or use `run` from a console");
  }
  return Status::Ok();
}

}  // namespace portwatch::agent::service

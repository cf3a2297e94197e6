#include "src/windows/event_log.h"

#include "portwatch/win32.h"

namespace portwatch::agent {
namespace {

using win32::ErrorText;
using win32::Wide;

class EventLogSink final : public LogSink {
 public:
  explicit EventLogSink(const std::string& source)
      : handle_(RegisterEventSourceW(nullptr, Wide(source).c_str())) {}
  ~EventLogSink() override {
    if (handle_ != nullptr) DeregisterEventSource(handle_);
  }
  void Write(LogLevel level, const std::string&, const std::string& text) override {
    if (handle_ == nullptr || level == LogLevel::kInfo) return;
    const std::wstring wide = Wide(text);
    const wchar_t* strings[] = {wide.c_str()};
    const bool error = level == LogLevel::kError;
    ReportEventW(handle_, error ? EVENTLOG_ERROR_TYPE : EVENTLOG_WARNING_TYPE, 0,
                 error ? kEventIdError : kEventIdWarning, nullptr, 1, 0, strings, nullptr);
  }

 private:
  HANDLE handle_;
};

}  // namespace

std::string EventLogSourceKey(const std::string& source) {
  return "SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\" + source;
}

std::unique_ptr<LogSink> MakeEventLogSink(const std::string& source) {
  return std::make_unique<EventLogSink>(source);
}

Status RegisterEventLogSource(const std::string& source, const std::string& executable) {
  HKEY key = nullptr;
  LONG rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, Wide(EventLogSourceKey(source)).c_str(), 0,
                            nullptr, 0, KEY_SET_VALUE, nullptr, &key, nullptr);
  if (rc != ERROR_SUCCESS) {
    return Status::Error("cannot register event log source '" + source +
                         "': " + ErrorText(static_cast<DWORD>(rc)) +
                         "; run from an elevated (administrator) prompt");
  }
  const std::wstring file = Wide(executable);
  const DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
  rc = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ,
                      reinterpret_cast<const BYTE*>(file.c_str()),
                      static_cast<DWORD>((file.size() + 1) * sizeof(wchar_t)));
  if (rc == ERROR_SUCCESS) {
    rc = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD,
                        reinterpret_cast<const BYTE*>(&types), sizeof types);
  }
  RegCloseKey(key);
  if (rc != ERROR_SUCCESS) {
    return Status::Error("cannot write event log source '" + source +
                         "': " + ErrorText(static_cast<DWORD>(rc)));
  }
  return Status::Ok();
}

Status UnregisterEventLogSource(const std::string& source) {
  const LONG rc = RegDeleteKeyW(HKEY_LOCAL_MACHINE, Wide(EventLogSourceKey(source)).c_str());
  if (rc != ERROR_SUCCESS && rc != ERROR_FILE_NOT_FOUND) {
    return Status::Error("cannot remove event log source '" + source +
                         "': " + ErrorText(static_cast<DWORD>(rc)));
  }
  return Status::Ok();
}

}  // namespace portwatch::agent

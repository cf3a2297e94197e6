// Tcpip events from the System log through a pull subscription (EvtSubscribe with a signal
// event, drained with EvtNext on every Read): no callback thread, and no polling of the whole
// log. The XPath filter keeps the service from sending anything else.
//
// wevtapi.dll is loaded at run time, so a system without it runs the agent without event counts
// (said so) instead of failing to start. The subscription is made before any bookmark is created when
// there is no saved one, so a wevtapi whose EvtSubscribe fails (Wine's is a stub, and its
// EvtCreateBookmark is not implemented at all) is reported rather than crashing the agent.
#include <windows.h>
#include <winevt.h>

#include <algorithm>
#include <cwchar>
#include <type_traits>

#include "collect/event_source_windows.h"
#include "collect/wevtapi.h"
#include "collect/windows_mapping.h"
#include "portwatch/files.h"
#include "portwatch/win32.h"

namespace portwatch::agent {
namespace {

using win32::Narrow;
using win32::Wide;

class EvtHandle {
 public:
  EvtHandle() = default;
  EvtHandle(const Wevtapi* api, EVT_HANDLE h) : api_(api), h_(h) {}
  ~EvtHandle() {
    if (h_ != nullptr) api_->Close(h_);
  }
  EvtHandle(const EvtHandle&) = delete;
  EvtHandle& operator=(const EvtHandle&) = delete;
  EvtHandle& operator=(EvtHandle&& o) noexcept {
    if (this != &o) {
      if (h_ != nullptr) api_->Close(h_);
      api_ = o.api_;
      h_ = o.h_;
      o.h_ = nullptr;
    }
    return *this;
  }
  EVT_HANDLE get() const { return h_; }

 private:
  const Wevtapi* api_ = nullptr;
  EVT_HANDLE h_ = nullptr;
};

// EvtRender into UTF-8 (event XML or bookmark XML); empty on failure.
std::string Render(const Wevtapi* api, EVT_HANDLE h, DWORD flags, std::wstring* scratch) {
  DWORD used = 0, props = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const DWORD bytes = static_cast<DWORD>(scratch->size() * sizeof(wchar_t));
    if (api->Render(nullptr, h, flags, bytes, scratch->data(), &used, &props)) {
      return Narrow(scratch->data(), wcsnlen(scratch->data(), used / sizeof(wchar_t)));
    }
    if (GetLastError() != ERROR_INSUFFICIENT_BUFFER) return "";
    scratch->resize(used / sizeof(wchar_t) + 1);
  }
  return "";
}

class WindowsEventSource final : public EventSource {
 public:
  WindowsEventSource(std::string state_file, const Wevtapi* api, EventSubscriptionRetry retry)
      : api_(api), state_file_(std::move(state_file)), retry_(std::move(retry)),
        backoff_(retry_.initial) {
    LoadState();
    Subscribe();
  }

  Status Read(EventCounts* out) override {
    if (api_ != nullptr && subscription_.get() == nullptr && retry_.now() >= retry_at_) {
      Subscribe();
    }
    if (subscription_.get() != nullptr) Drain();
    out->counters = state_.Counters();
    std::string reason = subscribe_error_;
    if (!save_error_.empty()) reason += (reason.empty() ? "" : "; ") + save_error_;
    out->degraded = !reason.empty();
    out->degraded_reason = reason;
    return Status::Ok();
  }

 private:
  void LoadState() {
    auto text = ReadFileLimited(state_file_, 1 << 20, "event state file");
    if (!text.ok()) return;  // first run: no state yet
    auto state = win::ParseEventState(*text);
    if (state.ok()) {
      state_ = std::move(*state);
    } else {
      // Start afresh from the oldest record rather than refusing to count at all.
      load_note_ = "'" + state_file_ + "': " + state.error();
    }
  }

  void Subscribe() {
    if (api_ == nullptr) {
      subscribe_error_ =
          "wevtapi.dll is not available, so Tcpip events are not counted: the counts are "
          "unknown, not zero";
      return;
    }
    if (!signal_.valid()) signal_.reset(CreateEventW(nullptr, TRUE, TRUE, nullptr));
    SetEvent(signal_.get());  // drain at once what the new subscription has waiting
    // Resubscribing keeps the bookmark handle of the last event counted; only the first
    // subscription starts from the saved one.
    const bool resume = bookmark_.get() == nullptr && !state_.bookmark_xml.empty();
    if (resume) {
      bookmark_ = EvtHandle(api_, api_->CreateBookmark(Wide(state_.bookmark_xml).c_str()));
      if (bookmark_.get() == nullptr) {
        // A bookmark the service no longer accepts: count from the oldest record again.
        load_note_ =
            "the saved bookmark was not accepted (" + win32::ErrorText(GetLastError()) + ")";
        state_ = win::EventState{};
      } else {
        bookmark_positioned_ = true;
      }
    }
    // A bookmark that has seen no event yet marks no position: start at the oldest record.
    const bool after_bookmark = bookmark_positioned_;
    SetLastError(0);
    subscription_ = EvtHandle(
        api_, api_->Subscribe(nullptr, signal_.get(), L"System",
                              Wide(win::TcpipEventQuery()).c_str(),
                              after_bookmark ? bookmark_.get() : nullptr, nullptr,
                              nullptr,
                              after_bookmark ? EvtSubscribeStartAfterBookmark
                                             : EvtSubscribeStartAtOldestRecord));
    if (subscription_.get() == nullptr) {
      const DWORD err = GetLastError();
      subscribe_error_ =
          "cannot subscribe to Tcpip events in the System log (EvtSubscribe " +
          (err == 0 ? std::string("returned no subscription and no error code")
                    : "failed: " + win32::ErrorText(err)) +
          "); event counts are unknown, not zero, retrying in " + BackoffText() +
          ". The agent needs the Windows Event Log service and rights to read the System log "
          "(LocalSystem has them)";
      ScheduleRetry();
    } else {
      subscribe_error_.clear();
      backoff_ = retry_.initial;
      if (bookmark_.get() == nullptr) bookmark_ = EvtHandle(api_, api_->CreateBookmark(nullptr));
    }
    if (!load_note_.empty()) {
      subscribe_error_ += (subscribe_error_.empty() ? "" : "; ") +
                          std::string("counting restarted: ") + load_note_;
    }
  }

  std::string BackoffText() const { return std::to_string(backoff_.count()) + " ms"; }

  void ScheduleRetry() {
    retry_at_ = retry_.now() + backoff_;
    backoff_ = std::min(backoff_ * 2, retry_.max);
  }

  void Drain() {
    bool changed = false;
    for (;;) {
      EVT_HANDLE batch[64];
      DWORD n = 0;
      if (!api_->Next(subscription_.get(), 64, batch, 0, 0, &n)) {
        const DWORD err = GetLastError();
        if (err == ERROR_NO_MORE_ITEMS) break;  // the only end of a batch
        // Anything else breaks the subscription (ERROR_EVT_QUERY_RESULT_STALE after the log
        // rolled over, RPC errors while the Event Log service restarts): make it again from
        // the last event counted.
        subscription_ = EvtHandle();
        subscribe_error_ = "the Tcpip event subscription broke (EvtNext failed: " +
                           win32::ErrorText(err) +
                           "); events since are not counted yet, resubscribing from the last "
                           "event counted in " + BackoffText();
        ScheduleRetry();
        break;
      }
      for (DWORD i = 0; i < n; ++i) {
        EvtHandle event(api_, batch[i]);
        // Events that do not parse (another provider's id reuse, damaged records) are passed
        // over, but the bookmark still moves past them.
        auto parsed =
            win::ParseTcpipEventXml(Render(api_, event.get(), EvtRenderEventXml, &scratch_));
        if (parsed.ok()) state_.Apply(*parsed);
        if (bookmark_.get() != nullptr && api_->UpdateBookmark(bookmark_.get(), event.get())) {
          bookmark_positioned_ = true;
        }
        changed = true;
      }
    }
    ResetEvent(signal_.get());
    if (!changed) return;
    if (bookmark_.get() != nullptr) {
      std::string xml = Render(api_, bookmark_.get(), EvtRenderBookmark, &scratch_);
      if (xml.empty()) {
        // Counts are only saved with the bookmark of the last event they include. The file
        // keeps the previous pair, so a restart counts the events since again from there
        // onto the counts of then: once, not twice.
        save_error_ = "cannot render the event bookmark (" + win32::ErrorText(GetLastError()) +
                      "); counts are saved once it renders again";
        return;
      }
      state_.bookmark_xml = std::move(xml);
    }
    Status s = WriteFileAtomic(state_file_, win::SerializeEventState(state_));
    save_error_ = s.ok() ? "" : "cannot save event counts (" + s.message() +
                                    "); after a restart they would be counted again";
  }

  const Wevtapi* api_;
  std::string state_file_;
  EventSubscriptionRetry retry_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point retry_at_{};
  win::EventState state_;
  std::string load_note_;
  std::string subscribe_error_;
  std::string save_error_;
  win32::UniqueHandle signal_;
  EvtHandle bookmark_;
  bool bookmark_positioned_ = false;  // bookmark_ holds a saved or counted event's position
  EvtHandle subscription_;
  std::wstring scratch_ = std::wstring(4096, L'\0');
};

}  // namespace

std::string DefaultWindowsDataDir() {
  wchar_t buf[MAX_PATH];
  DWORD n = GetEnvironmentVariableW(L"ProgramData", buf, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return ".";
  return Narrow(buf, n) + "\\portwatch";
}

const Wevtapi* SystemWevtapi() {
  static const Wevtapi api = [] {
    Wevtapi a;
    HMODULE dll = LoadLibraryExW(L"wevtapi.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
    if (dll == nullptr) dll = LoadLibraryW(L"wevtapi.dll");  // before KB2533623
    if (dll == nullptr) return a;
    auto get = [dll](auto* fn, const char* name) {
      *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(
          reinterpret_cast<void*>(GetProcAddress(dll, name)));
      return *fn != nullptr;
    };
    if (!(get(&a.Subscribe, "EvtSubscribe") && get(&a.Next, "EvtNext") &&
          get(&a.Render, "EvtRender") && get(&a.CreateBookmark, "EvtCreateBookmark") &&
          get(&a.UpdateBookmark, "EvtUpdateBookmark") && get(&a.Close, "EvtClose"))) {
      a = Wevtapi{};
    }
    return a;
  }();
  return api.Subscribe != nullptr ? &api : nullptr;
}

std::unique_ptr<EventSource> MakeWindowsEventSource(const std::string& state_file,
                                                    const Wevtapi* api,
                                                    EventSubscriptionRetry retry) {
  return std::make_unique<WindowsEventSource>(state_file, api, std::move(retry));
}

std::unique_ptr<EventSource> MakeWindowsEventSource(const std::string& state_file) {
  return MakeWindowsEventSource(state_file, SystemWevtapi(), EventSubscriptionRetry{});
}

std::unique_ptr<EventSource> MakeEventSource() {
  const std::string dir = DefaultWindowsDataDir();
  CreateDirectoryW(Wide(dir).c_str(), nullptr);
  return MakeWindowsEventSource(dir + "\\tcpip-events.json");
}

}  // namespace portwatch::agent

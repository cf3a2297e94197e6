// The Windows event source on a fake wevtapi function table: a small model of the System log
// (records, a subscription cursor, bookmarks) that can be made to fail the way a real Event Log
// service does. The shapes are Windows': event XML as EvtRender(EvtRenderEventXml) and wevtutil
// /f:xml give it, bookmarks as EvtRender(EvtRenderBookmark) gives them. These fixtures are
// reconstructed from Microsoft's documentation of the event schema and of bookmarks, not
// recorded on a server. Runs in agent_windows_test (under Wine in CI: Wine's own wevtapi is a
// stub, so only a fake can play these failures).
#include <windows.h>
#include <winevt.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "collect/event_source_windows.h"
#include "collect/wevtapi.h"
#include "portwatch/files.h"
#include "portwatch/win32.h"

namespace portwatch::agent {
namespace {

// ERROR_EVT_QUERY_RESULT_STALE (winerror.h): the log rolled over under the subscription.
constexpr DWORD kStale = 15011;

struct FakeLog {
  struct Record {
    uint64_t record_id;
    uint32_t event_id;
  };
  std::vector<Record> records;
  size_t cursor = 0;
  std::deque<DWORD> subscribe_errors;  // per EvtSubscribe call, 0 = succeeds
  std::deque<DWORD> next_errors;       // failures of the next EvtNext calls
  bool bookmark_render_fails = false;
  uint64_t bookmark_record = 0;
  int subscribes = 0;
  DWORD last_flags = 0;
  uint64_t subscribed_after = 0;
};
FakeLog* g_log = nullptr;

// Handles: 1 the subscription, 2 the bookmark, 1000 + index an event.
EVT_HANDLE H(uintptr_t v) { return reinterpret_cast<EVT_HANDLE>(v); }
uintptr_t V(EVT_HANDLE h) { return reinterpret_cast<uintptr_t>(h); }

std::wstring EventXml(const FakeLog::Record& r) {
  // The System part as Windows renders a Tcpip warning (see wevtutil qe System
  // /q:"*[System[Provider[@Name='Tcpip']]]" /f:xml).
  return L"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
         L"<Provider Name='Tcpip'/><EventID Qualifiers='16384'>" +
         std::to_wstring(r.event_id) +
         L"</EventID><Version>0</Version><Level>3</Level><Task>0</Task><Opcode>0</Opcode>"
         L"<Keywords>0x80000000000000</Keywords><TimeCreated "
         L"SystemTime='2024-03-01T10:20:30.1234567Z'/><EventRecordID>" +
         std::to_wstring(r.record_id) +
         L"</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='1420'/>"
         L"<Channel>System</Channel><Computer>web01.example.internal</Computer><Security/>"
         L"</System><EventData><Data></Data></EventData></Event>";
}

std::wstring BookmarkXml(uint64_t record_id) {
  return L"<BookmarkList>\r\n  <Bookmark Channel='System' RecordId='" +
         std::to_wstring(record_id) + L"' IsCurrent='true'/>\r\n</BookmarkList>";
}

EVT_HANDLE WINAPI FakeSubscribe(EVT_HANDLE, HANDLE, LPCWSTR, LPCWSTR, EVT_HANDLE bookmark, PVOID,
                                EVT_SUBSCRIBE_CALLBACK, DWORD flags) {
  ++g_log->subscribes;
  g_log->last_flags = flags;
  if (!g_log->subscribe_errors.empty()) {
    const DWORD e = g_log->subscribe_errors.front();
    g_log->subscribe_errors.pop_front();
    if (e != 0) {
      SetLastError(e);
      return nullptr;
    }
  }
  g_log->cursor = 0;
  g_log->subscribed_after = 0;
  if (flags == EvtSubscribeStartAfterBookmark && bookmark != nullptr) {
    g_log->subscribed_after = g_log->bookmark_record;
    while (g_log->cursor < g_log->records.size() &&
           g_log->records[g_log->cursor].record_id <= g_log->bookmark_record) {
      ++g_log->cursor;
    }
  }
  return H(1);
}

BOOL WINAPI FakeNext(EVT_HANDLE, DWORD size, EVT_HANDLE* events, DWORD, DWORD, PDWORD returned) {
  *returned = 0;
  if (!g_log->next_errors.empty()) {
    SetLastError(g_log->next_errors.front());
    g_log->next_errors.pop_front();
    return FALSE;
  }
  while (*returned < size && g_log->cursor < g_log->records.size()) {
    events[(*returned)++] = H(1000 + g_log->cursor++);
  }
  if (*returned == 0) {
    SetLastError(ERROR_NO_MORE_ITEMS);
    return FALSE;
  }
  return TRUE;
}

BOOL WINAPI FakeRender(EVT_HANDLE, EVT_HANDLE fragment, DWORD flags, DWORD bytes, PVOID buffer,
                       PDWORD used, PDWORD props) {
  std::wstring text;
  if (flags == EvtRenderBookmark) {
    if (g_log->bookmark_render_fails) {
      SetLastError(RPC_S_CALL_FAILED);
      return FALSE;
    }
    text = BookmarkXml(g_log->bookmark_record);
  } else {
    text = EventXml(g_log->records.at(V(fragment) - 1000));
  }
  *props = 0;
  *used = static_cast<DWORD>((text.size() + 1) * sizeof(wchar_t));
  if (bytes < *used) {
    SetLastError(ERROR_INSUFFICIENT_BUFFER);
    return FALSE;
  }
  std::memcpy(buffer, text.c_str(), *used);
  return TRUE;
}

EVT_HANDLE WINAPI FakeCreateBookmark(LPCWSTR xml) {
  g_log->bookmark_record = 0;
  if (xml != nullptr) {
    const std::wstring s(xml);
    const size_t at = s.find(L"RecordId='");
    if (at == std::wstring::npos) {
      SetLastError(ERROR_INVALID_PARAMETER);
      return nullptr;
    }
    g_log->bookmark_record = std::stoull(s.substr(at + 10));
  }
  return H(2);
}

BOOL WINAPI FakeUpdateBookmark(EVT_HANDLE, EVT_HANDLE event) {
  g_log->bookmark_record = g_log->records.at(V(event) - 1000).record_id;
  return TRUE;
}

BOOL WINAPI FakeClose(EVT_HANDLE) { return TRUE; }

const Wevtapi kFake{FakeSubscribe, FakeNext, FakeRender, FakeCreateBookmark, FakeUpdateBookmark,
                    FakeClose};

class EventRecovery : public testing::Test {
 protected:
  void SetUp() override {
    g_log = &log_;
    state_ = testing::TempDir() + "pw_event_recovery_" + std::to_string(GetCurrentProcessId()) +
             ".json";
    std::remove(state_.c_str());
  }
  void TearDown() override {
    g_log = nullptr;
    std::remove(state_.c_str());
  }
  std::unique_ptr<EventSource> Open() {
    EventSubscriptionRetry retry;
    retry.initial = std::chrono::milliseconds(1000);
    retry.max = std::chrono::milliseconds(4000);
    retry.now = [this] { return now_; };
    return MakeWindowsEventSource(state_, &kFake, retry);
  }
  void Add(uint32_t event_id) { log_.records.push_back({++last_record_, event_id}); }
  static uint64_t Count(const EventCounts& c, const std::string& name) {
    for (const auto& k : c.counters) {
      if (k.name == name) return k.value;
    }
    return ~0ull;
  }

  FakeLog log_;
  uint64_t last_record_ = 9000;
  std::string state_;
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

TEST_F(EventRecovery, OnlyNoMoreItemsEndsABatch_AStaleQueryResubscribesAfterTheLastEvent) {
  Add(4227);
  Add(4227);
  auto source = Open();
  EventCounts c;
  ASSERT_TRUE(source->Read(&c).ok());
  EXPECT_EQ(Count(c, "Tcpip.4227"), 2u);
  EXPECT_FALSE(c.degraded) << c.degraded_reason;

  log_.next_errors.push_back(kStale);  // the log rolled over
  Add(4231);
  ASSERT_TRUE(source->Read(&c).ok());
  EXPECT_TRUE(c.degraded);
  EXPECT_NE(c.degraded_reason.find("subscription broke (EvtNext failed"), std::string::npos)
      << c.degraded_reason;
  EXPECT_NE(c.degraded_reason.find("(error 15011)"), std::string::npos) << c.degraded_reason;
  EXPECT_EQ(Count(c, "Tcpip.4231"), 0u);

  // Not before the backoff: still degraded, no new subscription.
  now_ += std::chrono::milliseconds(999);
  ASSERT_TRUE(source->Read(&c).ok());
  EXPECT_TRUE(c.degraded);
  EXPECT_EQ(log_.subscribes, 1);

  now_ += std::chrono::milliseconds(1);
  ASSERT_TRUE(source->Read(&c).ok());
  EXPECT_EQ(log_.subscribes, 2);
  EXPECT_EQ(log_.last_flags, static_cast<DWORD>(EvtSubscribeStartAfterBookmark));
  EXPECT_EQ(log_.subscribed_after, 9002u);  // after the last event counted
  EXPECT_FALSE(c.degraded) << c.degraded_reason;
  EXPECT_EQ(Count(c, "Tcpip.4227"), 2u);  // not counted again
  EXPECT_EQ(Count(c, "Tcpip.4231"), 1u);
}

TEST_F(EventRecovery, RpcFailuresRetryWithGrowingBackoffUntilTheServiceIsBack) {
  Add(4226);
  // The Event Log service is restarting: the first three subscriptions fail.
  log_.subscribe_errors = {RPC_S_SERVER_UNAVAILABLE, RPC_S_SERVER_UNAVAILABLE,
                           RPC_S_CALL_FAILED, 0};
  auto source = Open();
  EventCounts c;
  ASSERT_TRUE(source->Read(&c).ok());
  EXPECT_TRUE(c.degraded);
  EXPECT_NE(c.degraded_reason.find("EvtSubscribe failed"), std::string::npos)
      << c.degraded_reason;
  EXPECT_NE(c.degraded_reason.find("unknown, not zero"), std::string::npos);
  // Retries at +1 s, then +2 s, then +4 s.
  const int waits_ms[] = {1000, 2000, 4000};
  for (int i = 0; i < 3; ++i) {
    now_ += std::chrono::milliseconds(waits_ms[i] - 1);
    ASSERT_TRUE(source->Read(&c).ok());
    EXPECT_EQ(log_.subscribes, i + 1) << "retried before its backoff, step " << i;
    now_ += std::chrono::milliseconds(1);
    ASSERT_TRUE(source->Read(&c).ok());
    EXPECT_EQ(log_.subscribes, i + 2);
  }
  EXPECT_FALSE(c.degraded) << c.degraded_reason;
  EXPECT_EQ(Count(c, "Tcpip.4226"), 1u);
  EXPECT_EQ(log_.last_flags, static_cast<DWORD>(EvtSubscribeStartAtOldestRecord));
}

TEST_F(EventRecovery, AnUnrenderableBookmarkDoesNotMakeARestartCountTwice) {
  Add(4227);
  Add(4227);
  {
    auto source = Open();
    EventCounts c;
    ASSERT_TRUE(source->Read(&c).ok());
    EXPECT_EQ(Count(c, "Tcpip.4227"), 2u);
    log_.bookmark_render_fails = true;
    Add(4227);
    ASSERT_TRUE(source->Read(&c).ok());
    EXPECT_EQ(Count(c, "Tcpip.4227"), 3u);
    EXPECT_TRUE(c.degraded);
    EXPECT_NE(c.degraded_reason.find("cannot render the event bookmark"), std::string::npos)
        << c.degraded_reason;
  }
  // The file still holds the last consistent pair: two events, bookmark at the second.
  auto saved = ReadFileLimited(state_, 1 << 20, "state");
  ASSERT_TRUE(saved.ok()) << saved.error();
  EXPECT_NE(saved->find("9002"), std::string::npos) << *saved;
  // A restart resumes after that bookmark and counts the third event once.
  log_.bookmark_render_fails = false;
  auto source = Open();
  EventCounts c;
  ASSERT_TRUE(source->Read(&c).ok());
  EXPECT_EQ(log_.last_flags, static_cast<DWORD>(EvtSubscribeStartAfterBookmark));
  EXPECT_EQ(Count(c, "Tcpip.4227"), 3u);
  EXPECT_FALSE(c.degraded) << c.degraded_reason;
}

}  // namespace
}  // namespace portwatch::agent

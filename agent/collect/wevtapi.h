// The wevtapi.dll functions the Windows event source uses, as a table resolved at run time
// (Windows only). Tests swap in a table of their own to play the failures a real Event Log
// service produces (a stale query after the log rolls over, RPC errors while the service
// restarts, a bookmark that cannot be rendered).
#pragma once

#include <windows.h>
#include <winevt.h>

namespace portwatch::agent {

struct Wevtapi {
  decltype(&::EvtSubscribe) Subscribe = nullptr;
  decltype(&::EvtNext) Next = nullptr;
  decltype(&::EvtRender) Render = nullptr;
  decltype(&::EvtCreateBookmark) CreateBookmark = nullptr;
  decltype(&::EvtUpdateBookmark) UpdateBookmark = nullptr;
  decltype(&::EvtClose) Close = nullptr;
};

/// The system's wevtapi.dll, loaded once; null where it is missing or lacks a function.
const Wevtapi* SystemWevtapi();

}  // namespace portwatch::agent

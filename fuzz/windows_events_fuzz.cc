// The Windows event parsers on arbitrary text: Tcpip event XML as EvtRender(EvtRenderEventXml) and
// wevtutil /f:xml give it, and the event state file (counts plus the EvtRender bookmark) the agent
// reads back at start. Every input goes to both. Beyond not crashing: an accepted event is one of
// the ids counted, and an accepted state file, with the event applied, is written and read back
// unchanged (what the agent persists it must be able to load).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>

#include "collect/windows_mapping.h"

namespace win = portwatch::agent::win;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto event = win::ParseTcpipEventXml(text);
  if (event.ok() && std::find(std::begin(win::kTcpipEventIds), std::end(win::kTcpipEventIds),
                              event->id) == std::end(win::kTcpipEventIds)) {
    std::abort();
  }
  auto state = win::ParseEventState(text);
  if (!state.ok()) return 0;
  if (event.ok()) state->Apply(*event);
  (void)state->Counters();
  const std::string written = win::SerializeEventState(*state);
  auto back = win::ParseEventState(written);
  if (!back.ok() || back->bookmark_xml != state->bookmark_xml ||
      back->counts.size() != state->counts.size() || win::SerializeEventState(*back) != written) {
    std::abort();
  }
  return 0;
}

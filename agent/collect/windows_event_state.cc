// The event counts and the subscription bookmark, kept as JSON so a restart resumes where the
// last run stopped.
#include "collect/windows_mapping.h"
#include "collect/windows_bytes.h"

#include <nlohmann/json.hpp>

namespace portwatch::agent::win {

namespace {
constexpr int kEventStateVersion = 1;
}

std::string SerializeEventState(const EventState& state) {
  nlohmann::json j;
  j["version"] = kEventStateVersion;
  j["bookmark"] = state.bookmark_xml;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [id, c] : state.counts) {
    counts[std::to_string(id)] = {{"count", c.value}, {"last_unix_ms", c.last_unix_ms}};
  }
  j["counts"] = counts;
  return j.dump(1) + "\n";
}

Expected<EventState> ParseEventState(const std::string& text) {
  const Status bad = Status::Error(
      "event state file is not one this agent wrote (or is damaged); delete it to start "
      "counting afresh from the oldest event in the System log");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad;
  auto version = j.find("version");
  auto bookmark = j.find("bookmark");
  auto counts = j.find("counts");
  if (version == j.end() || !version->is_number_integer() ||
      version->get<int>() != kEventStateVersion || bookmark == j.end() ||
      !bookmark->is_string() || counts == j.end() || !counts->is_object()) {
    return bad;
  }
  EventState s;
  s.bookmark_xml = bookmark->get<std::string>();
  for (auto it = counts->begin(); it != counts->end(); ++it) {
    int64_t id = 0;
    if (!ParseDigits(it.key(), 5, &id) || !it->is_object()) return bad;
    auto count = it->find("count");
    auto last = it->find("last_unix_ms");
    if (count == it->end() || !count->is_number_unsigned() || last == it->end() ||
        !last->is_number_integer()) {
      return bad;
    }
    s.counts[static_cast<uint32_t>(id)] = {count->get<uint64_t>(), last->get<int64_t>()};
  }
  return s;
}

}  // namespace portwatch::agent::win

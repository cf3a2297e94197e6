#include "src/rejections.h"

#include <cstdio>

#include "portwatch/text.h"

namespace portwatch::collector {
namespace {

// A logged detail stays one line of bounded size whatever the agent sent.
constexpr size_t kMaxLoggedDetail = 1024;

}  // namespace

Rejections::Rejections(prometheus::Registry& registry, std::chrono::seconds log_every)
    : family_(prometheus::BuildCounter()
                  .Name("portwatch_ingest_rejected_total")
                  .Help("Agent streams or reports the collector refused, by reason")
                  .Register(registry)),
      adjusted_family_(prometheus::BuildCounter()
                           .Name("portwatch_ingest_adjusted_total")
                           .Help("Reports accepted after an adjustment: text truncated or "
                                 "repaired, an agent clock clamped to receipt time")
                           .Register(registry)),
      log_every_(log_every) {}

void Rejections::Count(prometheus::Family<prometheus::Counter>& family,
                       std::map<std::string, Entry>& entries, const char* verb,
                       const std::string& label, const std::string& value,
                       const std::string& detail) {
  std::lock_guard<std::mutex> lk(mu_);
  Entry& e = entries[value];
  if (e.counter == nullptr) e.counter = &family.Add({{label, value}});
  e.counter->Increment();
  const auto now = std::chrono::steady_clock::now();
  if (e.last_log.time_since_epoch().count() == 0 || now - e.last_log >= log_every_) {
    const std::string safe = SanitizeText(detail, kMaxLoggedDetail);
    if (e.suppressed > 0) {
      std::fprintf(stderr, "portwatch-collector: %s (%s): %s [and %llu more since last log]\n",
                   verb, value.c_str(), safe.c_str(),
                   static_cast<unsigned long long>(e.suppressed));
    } else {
      std::fprintf(stderr, "portwatch-collector: %s (%s): %s\n", verb, value.c_str(),
                   safe.c_str());
    }
    e.last_log = now;
    e.suppressed = 0;
  } else {
    ++e.suppressed;
  }
}

void Rejections::Reject(const std::string& reason, const std::string& detail) {
  Count(family_, by_reason_, "refused", "reason", reason, detail);
}

void Rejections::Adjust(const std::string& what, const std::string& detail) {
  Count(adjusted_family_, by_adjustment_, "adjusted", "what", what, detail);
}

double Rejections::count(const std::string& reason) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = by_reason_.find(reason);
  return it == by_reason_.end() ? 0 : it->second.counter->Value();
}

double Rejections::adjusted(const std::string& what) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = by_adjustment_.find(what);
  return it == by_adjustment_.end() ? 0 : it->second.counter->Value();
}

}  // namespace portwatch::collector

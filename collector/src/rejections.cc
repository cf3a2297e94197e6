#include "src/rejections.h"

#include <cstdio>

namespace portwatch::collector {

Rejections::Rejections(prometheus::Registry& registry, std::chrono::seconds log_every)
    : family_(prometheus::BuildCounter()
                  .Name("portwatch_ingest_rejected_total")
                  .Help("Agent streams or reports the collector refused, by reason")
                  .Register(registry)),
      log_every_(log_every) {}

void Rejections::Reject(const std::string& reason, const std::string& detail) {
  std::lock_guard<std::mutex> lk(mu_);
  Entry& e = by_reason_[reason];
  if (e.counter == nullptr) e.counter = &family_.Add({{"reason", reason}});
  e.counter->Increment();
  const auto now = std::chrono::steady_clock::now();
  if (e.last_log.time_since_epoch().count() == 0 || now - e.last_log >= log_every_) {
    if (e.suppressed > 0) {
      std::fprintf(stderr, "portwatch-collector: refused (%s): %s [and %llu more since last log]\n",
                   reason.c_str(), detail.c_str(), static_cast<unsigned long long>(e.suppressed));
    } else {
      std::fprintf(stderr, "portwatch-collector: refused (%s): %s\n", reason.c_str(),
                   detail.c_str());
    }
    e.last_log = now;
    e.suppressed = 0;
  } else {
    ++e.suppressed;
  }
}

double Rejections::count(const std::string& reason) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = by_reason_.find(reason);
  return it == by_reason_.end() ? 0 : it->second.counter->Value();
}

}  // namespace portwatch::collector

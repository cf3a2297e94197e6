#include "src/collection.h"

#include <chrono>

#include "portwatch/files.h"

namespace portwatch::agent {

Collection::Collection(std::unique_ptr<SocketTable> table,
                       std::unique_ptr<ProcessAttribution> attribution,
                       std::unique_ptr<EventSource> events, CollectionOptions options)
    : table_(std::move(table)),
      attribution_(std::move(attribution)),
      events_(std::move(events)),
      options_(options) {}

Expected<Report> Collection::Collect(std::vector<std::string>* notes) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool refresh = options_.config_every <= 1 || cycle_ % options_.config_every == 0;
  ++cycle_;
  Report r;
  if (refresh) {
    auto ports = ReadEphemeralPorts();
    ports_ = ports.ok() ? *ports : EphemeralPorts{};
    ports_error_ = ports.ok() ? "" : ports.error();
  }
  if (!ports_error_.empty()) {
    notes->push_back(ports_error_ + " (ephemeral port use is not computed)");
  }

  Status s = table_->Scan(&sockets_);
  if (!s.ok()) return s;
  const std::string missing = table_->MissingFromScan();

  if (attribution_) {
    Status a = attribution_->Attribute(&sockets_);
    if (!a.ok()) notes->push_back("process attribution: " + a.message());
  }
  BuildUsage(sockets_, ports_, attribution_.get(), options_.usage, &r);

  if (refresh) {
    auto config = ReadTcpConfig();
    if (!config.ok()) {
      notes->push_back("config snapshot: " + config.error());
    } else {
      // Sent at every refresh, so a collector that restarted has it soon.
      r.has_config = true;
      r.config = std::move(*config);
    }
  }

  if (events_) {
    Status e = events_->Read(&r.events);
    if (!e.ok()) {
      r.events.degraded = true;
      r.events.degraded_reason = e.message();
    }
  }
  if (!missing.empty()) {
    r.events.degraded = true;
    r.events.degraded_reason += (r.events.degraded_reason.empty() ? "" : "; ") + missing;
  }
  if (r.events.degraded) notes->push_back(r.events.degraded_reason);

  r.collected_unix_ms = NowUnixMs();
  r.health.scan_duration_us = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return r;
}

}  // namespace portwatch::agent

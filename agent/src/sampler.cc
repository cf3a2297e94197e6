#include "src/sampler.h"

namespace portwatch::agent {
namespace {

void AddDegraded(EventCounts* ev, const std::string& reason) {
  ev->degraded = true;
  ev->degraded_reason += (ev->degraded_reason.empty() ? "" : "; ") + reason;
}

}  // namespace

Sampler::Sampler(std::unique_ptr<SocketTable> table,
                 std::unique_ptr<ProcessAttribution> attribution,
                 std::unique_ptr<EventSource> events, SamplerOptions options)
    : table_(std::move(table)),
      attribution_(std::move(attribution)),
      events_(std::move(events)),
      options_(options) {}

std::unique_ptr<Sampler> Sampler::ForThisHost(SamplerOptions options) {
  return std::make_unique<Sampler>(MakeSocketTable(), MakeProcessAttribution(), MakeEventSource(),
                                   options);
}

Status Sampler::Sample(Report* report) {
  auto ports = ReadEphemeralPorts();
  Status st = table_->Scan(&scratch_);
  if (!st.ok()) return st;

  report->events = {};
  if (events_) {
    Status es = events_->Read(&report->events);
    if (!es.ok()) AddDegraded(&report->events, "event counters unavailable: " + es.message());
  }
  // After the event source, which replaces report->events. An unknown range (Windows without
  // WMI's StandardCimv2) leaves port use uncomputed, said so; the socket counts, destinations
  // and processes are still worth sending.
  if (!ports.ok()) AddDegraded(&report->events, "ephemeral port range unknown: " + ports.error());
  if (ports.ok() && !ports->assumed_reason.empty()) {
    AddDegraded(&report->events, "ephemeral port range assumed: " + ports->assumed_reason);
  }
  const std::string missing = table_->MissingFromScan();
  if (!missing.empty()) AddDegraded(&report->events, missing);
  const ProcessAttribution* attribution = nullptr;
  if (attribution_) {
    Status as = attribution_->Attribute(&scratch_);
    if (as.ok()) {
      attribution = attribution_.get();
    } else {
      AddDegraded(&report->events, "process attribution unavailable: " + as.message());
    }
  }
  BuildUsage(scratch_, ports.ok() ? *ports : EphemeralPorts{}, attribution, options_.usage,
             report);

  report->has_config = false;
  auto config = ReadTcpConfig();
  if (!config.ok()) {
    AddDegraded(&report->events, "TCP settings unavailable: " + config.error());
  } else {
    const auto now = std::chrono::steady_clock::now();
    if (config_sent_ == std::chrono::steady_clock::time_point{} || !(*config == last_config_) ||
        now - config_sent_ >= options_.config_every) {
      report->has_config = true;
      report->config = *config;
      last_config_ = std::move(*config);
      config_sent_ = now;
    }
  }
  return Status::Ok();
}

}  // namespace portwatch::agent

// One sample of the host: reads the socket table, attributes sockets to processes, builds the
// summary and top-K lists, and adds the config snapshot (on change and periodically) and event
// counts. OS-neutral: it only sees the collect/ interfaces.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "collect/event_source.h"
#include "collect/process_attribution.h"
#include "collect/socket_table.h"
#include "collect/tcp_config.h"
#include "portwatch/model.h"
#include "src/summary.h"

namespace portwatch::agent {

struct SamplerOptions {
  UsageOptions usage;
  /// The config snapshot travels when it changes and at least this often.
  std::chrono::seconds config_every{3600};
};

class Sampler {
 public:
  /// Takes the platform probes; `attribution` and `events` may be null (not available).
  Sampler(std::unique_ptr<SocketTable> table, std::unique_ptr<ProcessAttribution> attribution,
          std::unique_ptr<EventSource> events, SamplerOptions options);

  /// The probes of the OS this agent was built for.
  static std::unique_ptr<Sampler> ForThisHost(SamplerOptions options);

  /// Takes one sample into `report` (sequence and health left for the caller). A failure of the
  /// socket table fails the sample; an unknown port range, sockets the table cannot see, or a
  /// failing attribution, config or event source degrade it (the reason is in
  /// report->events.degraded_reason) but do not.
  Status Sample(Report* report);

  /// Makes the next Sample include the config snapshot even if it did not change.
  void ForceConfig() { config_sent_ = {}; }

 private:
  std::unique_ptr<SocketTable> table_;
  std::unique_ptr<ProcessAttribution> attribution_;
  std::unique_ptr<EventSource> events_;
  SamplerOptions options_;
  std::vector<SocketEntry> scratch_;
  ConfigSnapshot last_config_;
  std::chrono::steady_clock::time_point config_sent_{};
};

}  // namespace portwatch::agent

// One collection cycle of the agent, OS-neutral: reads the socket table, names its owners, and
// builds the report's socket content with BuildUsage, adding the config snapshot (periodically)
// and the event counters. What a cycle could not see is said, never filled in.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "collect/event_source.h"
#include "collect/process_attribution.h"
#include "collect/socket_table.h"
#include "collect/tcp_config.h"
#include "portwatch/model.h"
#include "portwatch/status.h"
#include "src/summary.h"

namespace portwatch::agent {

struct CollectionOptions {
  UsageOptions usage;
  /// The port range and config are re-read every this many cycles (WMI queries on Windows are
  /// too slow for every cycle); each re-read config goes into that cycle's report.
  int config_every = 20;
};

class Collection {
 public:
  Collection(std::unique_ptr<SocketTable> table, std::unique_ptr<ProcessAttribution> attribution,
             std::unique_ptr<EventSource> events, CollectionOptions options);

  /// One cycle. Fails only when the socket table cannot be read; anything else missing is
  /// appended to `notes` (and, for sources the collector should know about, set as
  /// report.events.degraded_reason).
  Expected<Report> Collect(std::vector<std::string>* notes);

 private:
  std::unique_ptr<SocketTable> table_;
  std::unique_ptr<ProcessAttribution> attribution_;
  std::unique_ptr<EventSource> events_;
  CollectionOptions options_;
  std::vector<SocketEntry> sockets_;
  EphemeralPorts ports_;
  std::string ports_error_;
  uint64_t cycle_ = 0;
};

}  // namespace portwatch::agent

// Fleet state: the latest of everything each host has reported. Written by ingest, read by the
// metrics collectable (and later the query API) as copied snapshots, so a scrape never holds the
// lock while rendering.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "portwatch/model.h"

namespace portwatch::collector {

struct HostView {
  std::string host;
  AgentHello hello;
  bool has_report = false;
  Report last_report;
  /// Settings arrive on change and periodically, not with every report: the latest kept here.
  bool has_config = false;
  ConfigSnapshot config;
  int64_t last_seen_unix_ms = 0;   ///< collector clock when the last report arrived
  uint64_t reports_total = 0;
};

class FleetState {
 public:
  /// Records a stream's hello for `host` (identity already checked against the certificate).
  void OnHello(const std::string& host, const AgentHello& hello);
  /// Stores a validated report. Returns false if `host` said no hello first.
  bool OnReport(const std::string& host, const Report& report, int64_t now_unix_ms);

  std::vector<HostView> Snapshot() const;
  size_t host_count() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, HostView> hosts_;
};

}  // namespace portwatch::collector

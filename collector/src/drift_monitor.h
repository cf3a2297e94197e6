// Drift analysis for the collector: feeds every stored report to the FleetAnalyzer and answers
// from it, under one lock (the analyzer is not thread-safe). The state thread (fleet_core.h)
// calls OnReport for each committed report and Tick every second, and copies what readers need
// into the published FleetView; readers never call it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "portwatch/analysis/fleet_analyzer.h"
#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::collector {

/// A host's analysis summary, for rendering every host at scrape time.
struct DriftSummary {
  std::string host;
  analysis::HostSummary summary;
};

class DriftMonitor {
 public:
  static Expected<std::unique_ptr<DriftMonitor>> Create(analysis::Options options);

  /// Feeds a stored report; false if the analysis refused it (its data stays in the store).
  /// Agents send their settings only on change and periodically (hourly), so after a collector
  /// restart the analysis may see a host's reports long before the next snapshot: while the
  /// analysis has no settings of the host, `known_settings` (the newest snapshot the collector
  /// kept, may be null) stands in for the report's missing ones.
  bool OnReport(const std::string& host, const Report& report, int64_t received_unix_ms,
                const ConfigSnapshot* known_settings = nullptr);
  /// The same for a sample made without a report (a coarse replay of stored summary columns).
  bool OnSample(const std::string& host, analysis::HostSample sample, int64_t received_unix_ms,
                const ConfigSnapshot* known_settings = nullptr);
  /// Marks hosts silent that have not reported for the options' silent_after time.
  void Tick(int64_t now_unix_ms);

  /// Forgets a host (past retention). False if unknown.
  bool RemoveHost(const std::string& host);

  std::optional<analysis::HostStatus> Host(const std::string& host, int64_t now_unix_ms) const;
  std::optional<analysis::HostSummary> Summary(const std::string& host) const;
  std::vector<DriftSummary> Summaries() const;
  std::vector<analysis::FleetAggregate> Destinations(size_t limit) const;
  std::vector<analysis::FleetAggregate> Processes(size_t limit) const;
  const analysis::Options& options() const { return options_; }

 private:
  DriftMonitor(analysis::Options options, std::unique_ptr<analysis::FleetAnalyzer> fleet)
      : options_(std::move(options)), fleet_(std::move(fleet)) {}
  const analysis::Options options_;
  mutable std::mutex mu_;
  std::unique_ptr<analysis::FleetAnalyzer> fleet_;
  std::unordered_set<std::string> with_settings_;  // hosts whose settings the analysis has
};

}  // namespace portwatch::collector

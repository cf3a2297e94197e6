// Drift analysis of a fleet: a HostAnalyzer per host, fleet-wide aggregates of destinations and
// process names, hosts by state, and a worst-first ranking. Every aggregate is updated by taking
// out a host's previous contribution and adding its new one, so a report costs O(K log n) (K its
// top-K entries) whatever the fleet's size, and silence is found in amortised O(1) per host.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "portwatch/analysis/host_analyzer.h"
#include "portwatch/analysis/options.h"
#include "portwatch/status.h"

namespace portwatch::analysis {

/// One destination ("ip:port") or process name across the fleet: the sum over the hosts whose
/// latest sample lists it.
struct FleetAggregate {
  std::string key;
  uint32_t hosts = 0;                 ///< hosts listing it in their latest sample
  uint32_t growing_hosts = 0;         ///< of those, hosts where its own series grows significantly
  uint64_t ports = 0;                 ///< ports held toward it / by it, summed
  uint64_t time_wait = 0;             ///< of those, TIME_WAIT
  int64_t growth_milli_per_hour = 0;  ///< summed trends, 1/1000 port per hour

  double growth_per_hour() const { return static_cast<double>(growth_milli_per_hour) / 1000; }
  bool operator==(const FleetAggregate& o) const {
    return std::tie(key, hosts, growing_hosts, ports, time_wait, growth_milli_per_hour) ==
           std::tie(o.key, o.hosts, o.growing_hosts, o.ports, o.time_wait, o.growth_milli_per_hour);
  }
};

/// Analysis of every host a collector serves. Not thread-safe: the caller serialises calls (the
/// ingest path already holds the fleet lock while storing a report).
class FleetAnalyzer {
 public:
  /// Fails with a message naming the bad option if `options` do not validate.
  static Expected<std::unique_ptr<FleetAnalyzer>> Create(Options options);

  /// Feeds one sample of `host`; `received_unix_ms` is the collector clock. Errors (a sample
  /// older than the host's previous one) change nothing and say what to do.
  Status OnSample(const std::string& host, const HostSample& sample, int64_t received_unix_ms);

  /// Marks hosts with no sample for options().silent_after_ms as silent. Call it periodically
  /// (e.g. every few seconds) and before reading states.
  void Tick(int64_t now_unix_ms);

  /// Forgets a host and its contributions (decommissioned). False if unknown.
  bool RemoveHost(const std::string& host);

  std::optional<HostStatus> Host(const std::string& host, int64_t now_unix_ms) const;
  /// The host's compact summary; nullopt if unknown.
  std::optional<HostSummary> Summary(const std::string& host) const;
  /// Hosts that are not ok, worst first: exhausted, critical, drifting (each by soonest
  /// forecast), then silent. At most `limit`.
  std::vector<HostStatus> Worst(size_t limit, int64_t now_unix_ms) const;
  /// Calls fn(host, HostSummary) for every host: cheap enough for a scrape.
  template <typename Fn>
  void ForEachHost(Fn&& fn) const {
    for (const auto& [name, entry] : hosts_) fn(name, entry->analyzer.Summarize());
  }

  /// Hosts in each state, indexed by HostState.
  const std::array<uint32_t, kHostStateCount>& state_counts() const { return state_counts_; }
  size_t host_count() const { return hosts_.size(); }

  /// Fleet-wide destinations / processes: most hosts growing first, then fastest growth, then
  /// most ports. At most `limit`.
  std::vector<FleetAggregate> Destinations(size_t limit) const;
  std::vector<FleetAggregate> Processes(size_t limit) const;
  std::optional<FleetAggregate> Destination(const std::string& key) const;
  std::optional<FleetAggregate> Process(const std::string& name) const;

  const Options& options() const { return options_; }
  /// Bytes held by host analysis state and aggregates (an estimate from container sizes).
  size_t MemoryBytes() const;

 private:
  explicit FleetAnalyzer(Options options) : options_(std::move(options)) {}

  using RankKey = std::tuple<int, double, std::string>;  // (-severity, eta, host)
  using AggregateMap = std::unordered_map<std::string, FleetAggregate>;
  // What one host added to one aggregate. Map nodes do not move, and an aggregate is erased only
  // when no host contributes to it, so the pointer stays valid while a Share holds it.
  struct Share {
    FleetAggregate* aggregate;
    Contribution contribution;
  };
  struct Entry {
    explicit Entry(const std::string& host) : analyzer(host) {}
    HostAnalyzer analyzer;
    std::vector<Share> destinations;  // as last added
    std::vector<Share> processes;
    std::list<Entry*>::iterator lru;  // position in by_last_seen_, if not silent
    bool in_lru = false;
    bool ranked = false;
    RankKey rank;
    HostState counted_state = HostState::kOk;
  };

  static void Apply(FleetAggregate* a, const Contribution& c, int sign);
  static FleetAggregate* Find(AggregateMap* map, const std::string& key);
  static void Release(AggregateMap* map, const std::vector<Share>& shares);
  static std::vector<FleetAggregate> Ranked(const AggregateMap& map, size_t limit);
  // Adds the host's current contributions, then takes out its previous ones (in that order, so
  // an aggregate the host keeps contributing to is never erased and re-created).
  void Recontribute(Entry* e);
  void Rerank(Entry* e);

  Options options_;
  Workspace workspace_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> hosts_;
  AggregateMap destinations_;
  AggregateMap processes_;
  std::array<uint32_t, kHostStateCount> state_counts_{};
  std::set<RankKey> ranking_;       // hosts not ok
  std::list<Entry*> by_last_seen_;  // oldest report first; silent hosts are not in it
  std::vector<Share> fresh_;        // reused by Recontribute
};

}  // namespace portwatch::analysis

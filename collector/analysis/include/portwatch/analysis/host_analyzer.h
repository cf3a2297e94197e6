// Drift analysis of one host: its ephemeral-port series, one series per destination and per
// process it reports, its event counters, and the state machine that turns them into
// ok / drifting / critical / exhausted / silent with hysteresis.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "portwatch/analysis/churn.h"
#include "portwatch/analysis/options.h"
#include "portwatch/analysis/series.h"
#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::analysis {

/// Host states, in increasing severity (silent is separate: it says nothing about ports).
enum class HostState : uint8_t {
  kOk = 0,
  kDrifting = 1,
  kCritical = 2,
  kExhausted = 3,
  kSilent = 4
};
inline constexpr int kHostStateCount = 5;

/// "ok", "drifting", "critical", "exhausted", "silent".
std::string_view HostStateName(HostState state);
/// Rank for worst-first lists: exhausted 4, critical 3, drifting 2, silent 1, ok 0.
int HostStateSeverity(HostState state);

/// Ports one host holds toward one destination ("ip:port") or in one process (by name).
struct DetailSample {
  std::string key;
  uint32_t ports = 0;      ///< destination: distinct local ports; process: ephemeral ports held
  uint32_t time_wait = 0;  ///< of those, sockets in TIME_WAIT
};

/// A monotonic event counter as last read by the agent.
struct CounterSample {
  std::string name;
  uint64_t value = 0;
};

/// What the analysis needs from one report. Build it with SampleFromReport(), or from stored
/// history to replay a host after a restart (oldest first).
struct HostSample {
  int64_t unix_ms = 0;        ///< when the agent sampled
  uint32_t ports_in_use = 0;  ///< ephemeral ports held
  uint32_t ports_usable = 0;  ///< capacity: usable ephemeral ports (also each destination's)
  /// TIME_WAIT sockets holding ephemeral ports, all families: inbound TIME_WAIT on a
  /// listener's port (this host closed an accepted connection first) is left out.
  uint32_t time_wait = 0;
  std::vector<DetailSample> destinations;  ///< the host's top-K destinations
  std::vector<DetailSample> processes;     ///< the host's top-K processes, summed by name
  std::vector<CounterSample> counters;
  /// The report carried the host's settings (they come on change): the analyzer keeps the last.
  bool has_settings = false;
  HostSettings settings;
};

/// Extracts a HostSample from a report: destinations keyed "ip:port" with their local-port count,
/// processes summed by name (several pids of one program are one process), all counters, and the
/// settings when the report has them.
HostSample SampleFromReport(const Report& report);

/// One series' view for output.
struct SeriesStatus {
  std::string key;       ///< "" for the host, "ip:port" or a process name
  bool present = false;  ///< listed in the host's latest sample
  uint32_t ports = 0;    ///< latest value
  uint32_t time_wait = 0;
  uint32_t capacity = 0;
  double utilization = 0;  ///< ports / capacity, 0..1
  SeriesFit fit;
};

/// Everything known about a host, for the query API, the CLI and metrics.
struct HostStatus {
  std::string host;
  HostState state = HostState::kOk;
  int64_t state_since_ms = 0;  ///< when the current state began
  std::string reason;          ///< why this state, in a few words
  int64_t last_sample_ms = 0;  ///< agent clock of the latest sample
  int64_t last_seen_ms = 0;    ///< collector clock when it arrived
  SeriesStatus ports;          ///< the host's own ephemeral ports
  /// The series whose forecast is soonest among those drifting ("" the host, else a
  /// destination key); its forecast is the host's ETA.
  std::string headline;
  SeriesFit headline_fit;
  std::string driver_process;              ///< process whose growth drives the host's, if any
  std::string driver_destination;          ///< destination likewise
  std::vector<SeriesStatus> destinations;  ///< tracked, largest first
  std::vector<SeriesStatus> processes;     ///< tracked, largest first
  /// One line for a person: "web01: 71% of 16384 ports, +3.1%/h, full in ~9 h, driven by
  /// w3wp.exe -> 10.0.4.12:1433".
  std::string explanation;

  // --- Churn (see churn.h) ---
  double time_wait_s = 0;        ///< T_tw used for this host
  std::string time_wait_source;  ///< "TcpTimedWaitDelay", "Windows default", "Linux (fixed)", ...
  ChurnEstimate churn;           ///< of the host's own range
  /// The series under most churn pressure: "" the host's range, else a destination "ip:port".
  std::string churn_key;
  ChurnEstimate churn_worst;  ///< its estimate (the host's when churn_key is "")
  /// Steady occupancy of churn_key is within Options::churn_margin of capacity: never ok.
  bool at_risk = false;
  /// "churn toward 10.0.4.12:1433 can grow 12% before connects fail (event 4227);
  /// TcpTimedWaitDelay 240 → 30 would hold 8× this churn", or "" when churn is negligible.
  std::string churn_explanation;
  /// Process most likely behind the churn: the one holding the most live (not TIME_WAIT)
  /// ephemeral connections in the latest report. TIME_WAIT sockets have no owner and the report
  /// does not pair processes with destinations, so this is an inference, always marked so.
  std::string churn_process;
  bool churn_process_inferred = false;

  // --- Tiers ---
  /// Critical from the trend's page: a series' short and long windows both forecast exhaustion
  /// within Options::critical_eta_ms (SeriesFit::short_window, long_window show them).
  bool trend_page = false;
  /// The series that paged: "" the host's range, else a destination "ip:port".
  std::string page_key;

  // --- Agent clock ---
  int64_t clock_skew_ms = 0;       ///< agent time minus receipt time of the latest report
  uint64_t clock_corrections = 0;  ///< reports whose agent time was replaced or re-based
};

/// A compact per-host summary, cheap enough to render for every host at scrape time.
struct HostSummary {
  HostState state = HostState::kOk;
  double utilization = 0;
  double growth_pct_per_hour = 0;  ///< of the headline series
  /// Of the headline series, when the host is not ok and that series drifts; else never.
  double eta_s = kNever;
  int64_t last_seen_ms = 0;
  double clock_skew_s = 0;        ///< agent minus receipt time of the latest report
  double steady_utilization = 0;  ///< of the series under most churn pressure
  double churn_headroom = ChurnEstimate::kNoHeadroomLimit;  ///< its headroom (see ChurnEstimate)
  bool at_risk = false;
};

/// What one destination or process of a host adds to the fleet aggregates. Integers, so adding
/// and removing a contribution is exact.
struct Contribution {
  uint32_t ports = 0;
  uint32_t time_wait = 0;
  int64_t growth_milli_per_hour = 0;  ///< trend in 1/1000 ports per hour
  bool growing = false;               ///< its own trend grows significantly (SeriesFit::growing)
};

/// Analysis state of one host. Not thread-safe; FleetAnalyzer serialises access.
class HostAnalyzer {
 public:
  explicit HostAnalyzer(std::string host);

  /// Feeds one sample. `received_unix_ms` is the collector's clock (drives silence and bounds the
  /// agent's clock): last-seen always advances; a sample dated more than max_clock_skew_ms ahead
  /// is timed at receipt; a backward step is re-based onto receipt time. Never fails today; the
  /// Status is kept for inputs a future check may refuse.
  Status Update(const HostSample& sample, int64_t received_unix_ms, const Options& options,
                Workspace* ws);

  /// Marks the host silent (no sample since silent_after_ms). The next Update() lifts it.
  void MarkSilent(int64_t now_unix_ms);

  HostState state() const { return silent_ ? HostState::kSilent : state_; }
  int64_t last_seen_ms() const { return last_seen_ms_; }
  const std::string& host() const { return host_; }

  HostStatus Describe(const Options& options, int64_t now_unix_ms) const;
  HostSummary Summarize() const;

  /// Current contributions of the destinations / processes present in the latest sample.
  template <typename Fn>
  void ForEachDestination(Fn&& fn) const {
    ForEachPresent(destinations_, fn);
  }
  template <typename Fn>
  void ForEachProcess(Fn&& fn) const {
    ForEachPresent(processes_, fn);
  }

  /// Heap and object bytes held for this host.
  size_t MemoryBytes() const;

 private:
  struct Detail {
    explicit Detail(uint32_t window) : series(window) {}
    TrackedSeries series;
    std::unique_ptr<ChurnTracker> churn;  // destinations only
  };
  using DetailMap = std::unordered_map<std::string, Detail>;

  void UpdateDetails(DetailMap* map, const std::vector<DetailSample>& samples, int64_t unix_ms,
                     const Options& options, Workspace* ws, bool churn);
  // The agent's time for this sample, bounded against receipt time (see Update()).
  int64_t SampleTime(int64_t agent_ms, int64_t received_ms, const Options& options);
  // Steady occupancy of the host and its destinations: at-risk and churn-critical.
  void EvaluateChurn(int64_t unix_ms, const Options& options);
  // Whether a fit's verdict counts: on compressed time a rise made of TIME_WAIT does not.
  static bool Counts(const SeriesFit& fit, const Options& options);
  void WorstChurn(std::string* key, ChurnEstimate* estimate) const;
  void Evaluate(int64_t unix_ms, bool host_refit, const Options& options);
  void SetState(HostState s, int64_t unix_ms, std::string reason);
  // The series with the soonest forecast among those drifting, or the host's own.
  void Headline(std::string* key, const SeriesFit** fit) const;
  static Contribution ContributionOf(const TrackedSeries& s);
  template <typename Fn>
  void ForEachPresent(const DetailMap& map, Fn& fn) const {
    for (const auto& [key, d] : map) {
      if (d.series.last_ms() == last_sample_ms_) fn(key, ContributionOf(d.series));
    }
  }

  std::string host_;
  TrackedSeries ports_;
  DetailMap destinations_;
  DetailMap processes_;
  std::unordered_map<std::string, uint64_t> counters_;  // only the counters options name
  uint32_t capacity_ = 0;
  int64_t last_sample_ms_ = 0;
  int64_t last_seen_ms_ = 0;
  bool has_sample_ = false;

  HostState state_ = HostState::kOk;
  int64_t state_since_ms_ = 0;
  std::string reason_;
  bool silent_ = false;
  int64_t silent_since_ms_ = 0;

  bool trend_page_ = false;  // critical from the short and long windows (Evaluate)
  uint32_t page_leave_streak_ = 0;
  std::string page_key_;
  std::string page_reason_;
  uint32_t stop_streak_ = 0;    // host buckets in which the recent window shows growth stopped
  bool left_drifting_ = false;  // drifting ended on evidence still held: entry needs new growth
  uint32_t quiet_streak_ = 0;   // host buckets without any evidence since then
  bool drifting_ = false;
  int64_t drifting_since_ms_ = 0;
  uint32_t enter_streak_ = 0;
  uint32_t leave_streak_ = 0;
  int64_t critical_until_ms_ = 0;
  std::string critical_reason_;
  int64_t exhausted_evidence_ms_ = 0;
  bool exhausted_ = false;
  std::string exhausted_reason_;

  HostSettings settings_;
  TimeWaitDuration tw_;
  ChurnTracker churn_;
  bool at_risk_ = false;
  int64_t at_risk_since_ms_ = 0;
  uint32_t churn_over_streak_ = 0;
  uint32_t at_risk_streak_ = 0;
  std::string at_risk_reason_;
  int64_t clock_offset_ms_ = 0;
  int64_t clock_skew_ms_ = 0;
  uint64_t clock_corrections_ = 0;
};

}  // namespace portwatch::analysis

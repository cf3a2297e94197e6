// The churn model: ports held by connections that are closed but still in TIME_WAIT. By Little's
// law the TIME_WAIT count is the close rate times the time a closed socket stays there (T_tw), so
// a range's steady occupancy at today's churn is what live connections hold plus rate * T_tw. T_tw
// is physical time set by the OS, so it is never compressed with Options::Scaled().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "portwatch/analysis/series.h"
#include "portwatch/model.h"

namespace portwatch::analysis {

/// The settings of a host that the churn model needs, taken from the agent's ConfigSnapshot.
/// Agents send settings only on change (and periodically), so the analyzer keeps the last ones.
struct HostSettings {
  bool known = false;         ///< a snapshot was received
  std::string os_version;     ///< "Linux 6.1.0-18-amd64", "Windows 10.0.20348"
  bool has_tw_delay = false;  ///< Tcpip.TcpTimedWaitDelay is set explicitly
  int64_t tw_delay_s = 0;
  int tw_reuse = -1;  ///< net.ipv4.tcp_tw_reuse (0, 1, 2), -1 unknown
};

/// Reads the settings the churn model uses out of a snapshot.
HostSettings SettingsFromConfig(const ConfigSnapshot& config);

/// How long a closed connection holds its port, and where the figure comes from.
struct TimeWaitDuration {
  double seconds = 120;
  bool is_windows = false;
  bool is_linux = false;
  /// "TcpTimedWaitDelay", "Windows default", "Linux (fixed)", "assumed (OS unknown)".
  std::string source;
};

/// T_tw for a host: Linux fixes it at 60 s (TCP_TIMEWAIT_LEN); Windows uses TcpTimedWaitDelay
/// when set (clamped to its documented 30..300 s) and otherwise 240 s up to Windows Server 2003
/// (NT 5.x) and 120 s from Vista / Server 2008 (NT 6.0) on. Unknown OS: 120 s, marked assumed.
TimeWaitDuration TimeWaitFor(const HostSettings& settings);

/// The churn estimate of one series (a host's range, or its 4-tuples toward one destination).
struct ChurnEstimate {
  bool valid = false;           ///< enough recent samples
  double close_rate_per_s = 0;  ///< connections closed per second now (lambda)
  double held = 0;              ///< ports held by connections not in TIME_WAIT
  double time_wait = 0;         ///< TIME_WAIT sockets now
  /// held + lambda * T_tw: where occupancy settles if today's churn goes on (ports).
  double steady = 0;
  double steady_utilization = 0;  ///< steady / capacity
  /// How much the close rate can grow before the steady occupancy reaches capacity, as a
  /// factor minus one (0.12: 12% more churn fits). Negative: today's churn does not fit.
  double headroom = kNoHeadroomLimit;
  /// TIME_WAIT share of the occupancy: the churn is what fills this range.
  double time_wait_share = 0;
  /// Growth of the steady occupancy (ports per second), measured over the last T_tw.
  double steady_growth_per_s = 0;
  /// Seconds until the steady occupancy reaches capacity if it keeps that growth (the forecast
  /// when the churn itself grows); kNever when it does not grow.
  double eta_s = kNever;
  static constexpr double kNoHeadroomLimit = 1e9;
};

/// Recent samples of one series, enough to see TIME_WAIT's rise over T_tw: a ring of the newest
/// kPoints raw samples, and a coarse ring (one entry per T_tw / 8) of the TIME_WAIT count and the
/// close-rate estimate over the last 1.5 T_tw. Fixed size.
class ChurnTracker {
 public:
  static constexpr size_t kPoints = 8;
  static constexpr size_t kCoarse = 12;

  /// Adds one raw sample (time order; an older one is ignored). `tw_seconds` sets the coarse
  /// spacing.
  void Add(int64_t unix_ms, uint32_t ports, uint32_t time_wait, double tw_seconds,
           uint32_t capacity);
  /// Estimates the close rate and the steady occupancy. TIME_WAIT rises by what closes now and
  /// falls by what closed T_tw ago: lambda(t) = rise + lambda(t - T_tw), with lambda(t - T_tw)
  /// from the coarse ring. The result is kept between TIME_WAIT / T_tw (Little's law, memoryless)
  /// and that plus half the rise (exact for a linearly growing rate), so an error made once is
  /// not carried forward. A rise within the count's counting noise is not projected, and before
  /// one T_tw of history the projection is held to the TIME_WAIT growth seen so far.
  ChurnEstimate Estimate(double tw_seconds, uint32_t capacity) const;
  size_t size() const { return size_; }

 private:
  struct Raw {
    int64_t unix_ms = 0;
    uint32_t ports = 0;
    uint32_t time_wait = 0;
  };
  struct Coarse {
    int64_t unix_ms = 0;
    float rate = 0;
    float steady = 0;
  };
  const Raw& At(size_t age) const;           // 0: newest
  const Coarse& CoarseAt(size_t age) const;  // 0: newest
  // The coarse entry closest to `age_ms` before the newest sample, if the ring reaches back so far.
  const Coarse* CoarseAgo(double age_ms) const;
  Raw ring_[kPoints];
  size_t next_ = 0;
  size_t size_ = 0;
  Coarse coarse_[kCoarse];
  size_t coarse_next_ = 0;
  size_t coarse_size_ = 0;
  // The first sample's time and TIME_WAIT: where the evidence starts.
  int64_t first_ms_ = 0;
  double first_time_wait_ = 0;
};

/// Which program is behind the live connections toward one destination over recent reports:
/// TIME_WAIT sockets have no owner, so the program seen holding connections toward a
/// destination, report after report, is the likeliest to be opening and closing them. A few
/// decayed tallies (each report multiplies every tally by kDecay, so the last ~10 reports speak),
/// a program not tallied taking the weakest slot: fixed memory however many programs come and go.
class OwnerTally {
 public:
  static constexpr int kSlots = 3;
  static constexpr double kDecay = 0.9;

  /// One report listing the destination: its top program (the agent's
  /// DestinationUsage::top_process, "" when none was seen) and that program's live connections.
  void Add(const std::string& name, uint32_t connections);
  /// The program with the highest tally, "" when none was ever seen.
  const std::string& Top() const;
  /// Heap bytes beyond the object (long names).
  size_t HeapBytes() const;

 private:
  std::string names_[kSlots];
  double weights_[kSlots] = {};
};

/// "churn toward 10.0.4.12:1433 can grow 12% before connects fail (event 4227)". `key` is "" for
/// the host's own range.
std::string HeadroomSentence(const std::string& key, const ChurnEstimate& c,
                             const TimeWaitDuration& tw);
/// The change the model implies: "TcpTimedWaitDelay 240 -> 30 would hold 8x this churn", or on
/// Linux the tw_reuse advice. Empty when the churn is not what fills the range.
std::string RemedySentence(const ChurnEstimate& c, const TimeWaitDuration& tw,
                           const HostSettings& settings, uint32_t capacity);

}  // namespace portwatch::analysis

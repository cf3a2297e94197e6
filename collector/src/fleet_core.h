// The collector's state thread. The store writer hands it what each batch committed (hellos,
// stored reports, duplicates) through one bounded, counted queue; the thread applies them to
// fleet state and drift analysis, marks silent hosts and forgets hosts past retention on a
// tick, and publishes a new immutable FleetView (fleet_view.h) after each batch it applied.
//
//   ingest reactors -> store writer: commit, then ack -> [queue] -> FleetCore: state, analysis
//                                                                    -> publish FleetView
//   readers (metrics, query API, status page) -> ViewPublisher::Current()
//
// Nothing here blocks ingest: Submit() only appends under a short lock, and when the queue is
// full the newest reports are dropped from analysis (counted; they are stored and acknowledged
// all the same, and the host's next report brings fleet state up to date).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/drift_monitor.h"
#include "src/fleet_state.h"
#include "src/fleet_view.h"
#include "src/policy_monitor.h"

namespace portwatch::collector {

/// One committed change, in commit order.
struct StateEvent {
  enum class Kind : uint8_t { kHello, kReport, kDuplicate };
  Kind kind = Kind::kReport;
  std::string host;
  int64_t received_unix_ms = 0;  ///< collector clock
  AgentHello hello;              ///< kHello
  int64_t certificate_not_after_unix = 0;  ///< kHello: the stream's client certificate, 0 unknown
  Report report;                 ///< kReport: the validated model
  /// kReport, kDuplicate: the host's agents' drops over all instances, as the store keeps it.
  uint64_t agent_dropped_total = 0;
};

struct FleetCoreOptions {
  size_t max_queue = 200000;  ///< events waiting; reports beyond it are dropped (counted)
  int64_t tick_ms = 1000;     ///< how often silence and retention are checked
  /// A host not heard from (report or hello, collector clock) for this long is silent.
  int64_t silent_after_ms = 5 * 60 * 1000;
  /// A host not heard from for this long leaves fleet state, analysis and metrics (0: never).
  int64_t forget_after_ms = 0;
  /// At most one new view per this many ms under load, or per three times what the last view
  /// took to build if that is longer (a view costs O(hosts)).
  int64_t min_publish_interval_ms = 50;
};

class FleetCore {
 public:
  FleetCore(FleetState& fleet, DriftMonitor& drift, ViewPublisher& views,
            prometheus::Registry& registry, FleetCoreOptions options = {});
  ~FleetCore();
  FleetCore(const FleetCore&) = delete;
  FleetCore& operator=(const FleetCore&) = delete;

  /// Committed reports are also evaluated by the policy audit, and hosts past retention leave
  /// it. Call before Start.
  void SetPolicyMonitor(PolicyMonitor* policy) { policy_ = policy; }
  /// Starts the state thread (after fleet state and analysis were restored).
  void Start();
  /// Applies what is queued, publishes, and stops the thread.
  void Stop();
  /// Hands over one committed batch. Never blocks; hellos always pass, reports beyond the
  /// queue's bound are dropped from analysis and counted.
  void Submit(std::vector<StateEvent> events);

  /// One step of the thread, also used directly by tests and at start: applies `events`, then
  /// (when `tick`) checks silence and retention, and publishes a new view.
  void Step(std::vector<StateEvent>& events, bool tick, int64_t now_unix_ms);

  const FleetCoreOptions& options() const { return opts_; }

 private:
  void Run();
  void Apply(StateEvent& ev);
  void Tick(int64_t now_unix_ms);
  // Drift fields for one host as of now: the analysis, or silence by contact if never analysed.
  void Refresh(const std::string& host, int64_t now_unix_ms);
  void Publish(int64_t now_unix_ms);

  FleetState& fleet_;
  DriftMonitor& drift_;
  ViewPublisher& views_;
  PolicyMonitor* policy_ = nullptr;
  const FleetCoreOptions opts_;
  uint64_t generation_ = 0;
  // Reports dated before their host's newest (state thread only).
  uint64_t out_of_order_ = 0;
  std::atomic<uint64_t> dropped_{0};  // reports dropped by Submit, shown in the view
  std::atomic<double> last_publish_ms_{0};  // what the last view cost to build

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<StateEvent> queue_;
  bool stopping_ = false;
  std::thread thread_;

  prometheus::Gauge& queue_gauge_;
  prometheus::Counter& dropped_counter_;
  prometheus::Counter& removed_counter_;
  prometheus::Histogram& publish_seconds_;
};

}  // namespace portwatch::collector

// Fleet state: the latest of everything each host has reported, as the state thread keeps it
// (fleet_core.h). Hellos, stored reports and duplicates are applied here in commit order; each
// change marks the host dirty, and Publish() turns the dirty hosts into new immutable HostViews
// for the next FleetView. Not thread-safe: only the state thread (or a test) touches it; readers
// use the published view. Rebuilt from the store at start, so hosts stay listed across restarts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/fleet_view.h"

namespace portwatch::collector {

class FleetState {
 public:
  FleetState() = default;

  /// Records a stream's hello for `host` (identity already checked against the certificate).
  void OnHello(const std::string& host, const AgentHello& hello, int64_t now_unix_ms);
  /// Records a stored report. A host not seen before is created (its hello may have been lost
  /// to an overloaded queue). A report collected before the one held (a replay after an
  /// outage) is counted but does not replace it.
  void OnReport(const std::string& host, Report report, int64_t now_unix_ms);
  /// A report that was stored before arrived again: counted; the host is alive.
  void OnDuplicate(const std::string& host, int64_t now_unix_ms);
  /// The host's agents' dropped reports summed over their instances, as the store keeps it.
  void SetAgentReportsDropped(const std::string& host, uint64_t total);
  /// The expiry of the certificate the host's latest stream presented (0: unknown).
  void SetCertificateExpiry(const std::string& host, int64_t not_after_unix);
  /// Puts back a host as the store remembers it (at start, before ingest opens).
  void Restore(HostView view);
  /// Forgets a host (past retention). False if unknown.
  bool Remove(const std::string& host);

  /// The working record of a host (changes with the next event), or null.
  const HostView* Find(const std::string& host) const;
  /// Sets the drift fields of a host; marks it dirty when they changed.
  void SetDrift(const std::string& host, const analysis::HostSummary& summary,
                std::shared_ptr<const analysis::HostStatus> status);
  /// Calls fn(const HostView&) for every host, by name.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& [name, e] : hosts_) fn(e.working);
  }
  /// Hosts changed since the last Publish(), by name.
  std::vector<std::string> Dirty() const;

  /// Freezes the dirty hosts into new HostViews and returns every host's view, by name.
  std::vector<std::shared_ptr<const HostView>> Publish();
  size_t host_count() const { return hosts_.size(); }

 private:
  struct Entry {
    HostView working;
    std::shared_ptr<const HostView> published;
    bool dirty = true;
  };
  Entry& Touch(const std::string& host);

  std::map<std::string, Entry> hosts_;
};

}  // namespace portwatch::collector

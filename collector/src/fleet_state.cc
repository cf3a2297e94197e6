#include "src/fleet_state.h"

#include <algorithm>

#include "portwatch/files.h"

namespace portwatch::collector {

void FleetState::OnHello(const std::string& host, const AgentHello& hello, int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  HostView& h = hosts_[host];
  h.host = host;
  h.hello = hello;
  h.last_contact_unix_ms = std::max(h.last_contact_unix_ms, now_unix_ms);
}

bool FleetState::OnReport(const std::string& host, const Report& report, int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return false;
  HostView& h = it->second;
  // After an outage the agent replays old reports before live ones; the view keeps the newest.
  if (!h.has_report || report.collected_unix_ms >= h.last_report.collected_unix_ms) {
    h.last_report = report;
    h.last_report.instance_id.clear();
  }
  h.has_report = true;
  // Likewise for settings: a replayed report's older snapshot does not replace a newer one.
  if (report.has_config &&
      (!h.has_config || report.collected_unix_ms >= h.config_collected_unix_ms)) {
    h.has_config = true;
    h.config = report.config;
    h.config_collected_unix_ms = report.collected_unix_ms;
  }
  h.last_seen_unix_ms = now_unix_ms;
  h.last_contact_unix_ms = std::max(h.last_contact_unix_ms, now_unix_ms);
  ++h.reports_total;
  return true;
}

void FleetState::OnDuplicate(const std::string& host, int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  ++it->second.reports_duplicate_total;
  it->second.last_contact_unix_ms = std::max(it->second.last_contact_unix_ms, now_unix_ms);
}

void FleetState::SetAgentReportsDropped(const std::string& host, uint64_t total) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = hosts_.find(host);
  if (it != hosts_.end()) it->second.agent_reports_dropped_total = total;
}

void FleetState::Restore(HostView view) {
  std::lock_guard<std::mutex> lk(mu_);
  view.last_contact_unix_ms = std::max(view.last_contact_unix_ms, view.last_seen_unix_ms);
  hosts_[view.host] = std::move(view);
}

std::vector<HostView> FleetState::Snapshot() const { return SnapshotAt(NowUnixMs()); }

std::vector<HostView> FleetState::SnapshotAt(int64_t now_unix_ms) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<HostView> out;
  out.reserve(hosts_.size());
  for (const auto& [name, view] : hosts_) {
    out.push_back(view);
    out.back().silent = now_unix_ms - view.last_contact_unix_ms > silent_after_ms_;
  }
  return out;
}

std::optional<HostView> FleetState::Host(const std::string& host) const {
  const int64_t now = NowUnixMs();
  std::lock_guard<std::mutex> lk(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return std::nullopt;
  HostView v = it->second;
  v.silent = now - v.last_contact_unix_ms > silent_after_ms_;
  return v;
}

size_t FleetState::host_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return hosts_.size();
}

}  // namespace portwatch::collector

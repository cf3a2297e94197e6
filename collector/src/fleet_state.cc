#include "src/fleet_state.h"

namespace portwatch::collector {

void FleetState::OnHello(const std::string& host, const AgentHello& hello) {
  std::lock_guard<std::mutex> lk(mu_);
  HostView& h = hosts_[host];
  h.host = host;
  h.hello = hello;
}

bool FleetState::OnReport(const std::string& host, const Report& report, int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return false;
  HostView& h = it->second;
  h.has_report = true;
  h.last_report = report;
  if (report.has_config) {
    h.has_config = true;
    h.config = report.config;
  }
  h.last_seen_unix_ms = now_unix_ms;
  ++h.reports_total;
  return true;
}

std::vector<HostView> FleetState::Snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<HostView> out;
  out.reserve(hosts_.size());
  for (const auto& [name, view] : hosts_) out.push_back(view);
  return out;
}

size_t FleetState::host_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return hosts_.size();
}

}  // namespace portwatch::collector

#include "src/fleet_state.h"

#include <algorithm>

namespace portwatch::collector {

FleetState::Entry& FleetState::Touch(const std::string& host) {
  Entry& e = hosts_[host];
  if (e.working.host.empty()) e.working.host = host;
  e.dirty = true;
  return e;
}

void FleetState::OnHello(const std::string& host, const AgentHello& hello, int64_t now_unix_ms) {
  HostView& h = Touch(host).working;
  h.hello = hello;
  h.last_contact_unix_ms = std::max(h.last_contact_unix_ms, now_unix_ms);
}

void FleetState::OnReport(const std::string& host, Report report, int64_t now_unix_ms) {
  HostView& h = Touch(host).working;
  const int64_t collected = report.collected_unix_ms;
  // Settings first: a replayed report's older snapshot does not replace a newer one.
  if (report.has_config && (h.config == nullptr || collected >= h.config_collected_unix_ms)) {
    h.config = std::make_shared<const ConfigSnapshot>(std::move(report.config));
    h.config_collected_unix_ms = collected;
  }
  // After an outage the agent replays old reports before live ones; the view keeps the newest.
  // Settings live in `config`, so the kept report does not carry a second copy.
  if (h.report == nullptr || collected >= h.report->collected_unix_ms) {
    report.instance_id.clear();
    report.has_config = false;
    report.config = {};
    h.report = std::make_shared<const Report>(std::move(report));
  }
  h.last_seen_unix_ms = std::max(h.last_seen_unix_ms, now_unix_ms);
  h.last_contact_unix_ms = std::max(h.last_contact_unix_ms, now_unix_ms);
  ++h.reports_total;
}

void FleetState::OnDuplicate(const std::string& host, int64_t now_unix_ms) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  it->second.dirty = true;
  HostView& h = it->second.working;
  ++h.reports_duplicate_total;
  h.last_contact_unix_ms = std::max(h.last_contact_unix_ms, now_unix_ms);
}

void FleetState::SetAgentReportsDropped(const std::string& host, uint64_t total) {
  auto it = hosts_.find(host);
  if (it == hosts_.end() || it->second.working.agent_reports_dropped_total == total) return;
  it->second.dirty = true;
  it->second.working.agent_reports_dropped_total = total;
}

void FleetState::SetCertificateExpiry(const std::string& host, int64_t not_after_unix) {
  auto it = hosts_.find(host);
  if (it == hosts_.end() || not_after_unix == 0 ||
      it->second.working.certificate_not_after_unix == not_after_unix) {
    return;
  }
  it->second.dirty = true;
  it->second.working.certificate_not_after_unix = not_after_unix;
}

void FleetState::Restore(HostView view) {
  view.last_contact_unix_ms = std::max(view.last_contact_unix_ms, view.last_seen_unix_ms);
  Entry& e = Touch(view.host);
  e.working = std::move(view);
}

bool FleetState::Remove(const std::string& host) { return hosts_.erase(host) > 0; }

const HostView* FleetState::Find(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : &it->second.working;
}

void FleetState::SetDrift(const std::string& host, const analysis::HostSummary& summary,
                          std::shared_ptr<const analysis::HostStatus> status) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  HostView& h = it->second.working;
  h.drift = summary;
  h.status = std::move(status);
  it->second.dirty = true;
}

std::vector<std::string> FleetState::Dirty() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : hosts_) {
    if (e.dirty || e.published == nullptr) out.push_back(name);
  }
  return out;
}

std::vector<std::shared_ptr<const HostView>> FleetState::Publish() {
  std::vector<std::shared_ptr<const HostView>> out;
  out.reserve(hosts_.size());
  for (auto& [name, e] : hosts_) {
    if (e.dirty || e.published == nullptr) {
      e.published = std::make_shared<const HostView>(e.working);
      e.dirty = false;
    }
    out.push_back(e.published);
  }
  return out;
}

}  // namespace portwatch::collector

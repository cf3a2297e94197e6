#include "src/drift_monitor.h"

#include <algorithm>

namespace portwatch::collector {

Expected<std::unique_ptr<DriftMonitor>> DriftMonitor::Create(analysis::Options options) {
  auto fleet = analysis::FleetAnalyzer::Create(options);
  if (!fleet.ok()) return fleet.status();
  return std::unique_ptr<DriftMonitor>(new DriftMonitor(std::move(options), std::move(*fleet)));
}

bool DriftMonitor::OnReport(const std::string& host, const Report& report, int64_t received_unix_ms,
                            const ConfigSnapshot* known_settings) {
  return OnSample(host, analysis::SampleFromReport(report), received_unix_ms, known_settings);
}

bool DriftMonitor::OnSample(const std::string& host, analysis::HostSample sample,
                            int64_t received_unix_ms, const ConfigSnapshot* known_settings) {
  std::lock_guard<std::mutex> lk(mu_);
  const bool had_settings = with_settings_.count(host) > 0;
  if (!sample.has_settings && !had_settings && known_settings != nullptr) {
    // Without this the host would run on its OS default TIME_WAIT duration (or an assumed one)
    // until its agent's next periodic snapshot, up to an hour after a restart.
    sample.has_settings = true;
    sample.settings = analysis::SettingsFromConfig(*known_settings);
  }
  if (!fleet_->OnSample(host, sample, received_unix_ms).ok()) return false;
  if (sample.has_settings && !had_settings) with_settings_.insert(host);
  return true;
}

void DriftMonitor::Tick(int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  fleet_->Tick(now_unix_ms);
}

bool DriftMonitor::RemoveHost(const std::string& host) {
  std::lock_guard<std::mutex> lk(mu_);
  with_settings_.erase(host);
  return fleet_->RemoveHost(host);
}

std::optional<analysis::HostSummary> DriftMonitor::Summary(const std::string& host) const {
  std::lock_guard<std::mutex> lk(mu_);
  return fleet_->Summary(host);
}

std::optional<analysis::HostStatus> DriftMonitor::Host(const std::string& host,
                                                       int64_t now_unix_ms) const {
  std::lock_guard<std::mutex> lk(mu_);
  return fleet_->Host(host, now_unix_ms);
}

std::vector<DriftSummary> DriftMonitor::Summaries() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<DriftSummary> out;
  out.reserve(fleet_->host_count());
  fleet_->ForEachHost([&](const std::string& name, const analysis::HostSummary& s) {
    out.push_back({name, s});
  });
  return out;
}

std::vector<analysis::FleetAggregate> DriftMonitor::Destinations(size_t limit) const {
  std::lock_guard<std::mutex> lk(mu_);
  return fleet_->Destinations(limit);
}

std::vector<analysis::FleetAggregate> DriftMonitor::Processes(size_t limit) const {
  std::lock_guard<std::mutex> lk(mu_);
  return fleet_->Processes(limit);
}

}  // namespace portwatch::collector

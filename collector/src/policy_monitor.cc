#include "src/policy_monitor.h"

#include <algorithm>
#include <set>

namespace portwatch::collector {

namespace pp = portwatch::policy;

PolicyMonitor::PolicyMonitor(pp::Policy policy, int64_t now_unix_ms)
    : policy_(std::move(policy)), loaded_unix_ms_(now_unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  PublishLocked();
}

void PolicyMonitor::EvaluateChecks(HostEntry& e) {
  e.checks = e.has_config ? pp::EvaluateHost(policy_, e.facts) : std::vector<pp::Violation>{};
}

void PolicyMonitor::OnReport(const std::string& host, const Report& report) {
  std::lock_guard<std::mutex> lock(mu_);
  HostEntry& e = hosts_[host];
  // A late replay (collected before the latest) says nothing about the host now.
  if (e.has_report && report.collected_unix_ms < e.latest_collected_ms) return;
  e.latest_collected_ms = report.collected_unix_ms;
  e.facts.host = host;
  if (report.has_config) {
    e.has_config = true;
    e.facts.config = report.config;
    e.facts.os_version = report.config.os_version;
    e.facts.os = pp::OsKindOfVersion(report.config.os_version);
  }
  e.facts.observations = pp::ObserveReport(report, e.has_report ? &e.previous : nullptr);
  // Only the counters are needed from the previous report.
  e.previous = Report{};
  e.previous.events = report.events;
  e.has_report = true;
  EvaluateChecks(e);
  dirty_ = true;
}

void PolicyMonitor::Restore(const std::string& host, const ConfigSnapshot& config,
                            const Report* latest) {
  std::lock_guard<std::mutex> lock(mu_);
  HostEntry& e = hosts_[host];
  e.facts.host = host;
  e.has_config = true;
  e.facts.config = config;
  e.facts.os_version = config.os_version;
  e.facts.os = pp::OsKindOfVersion(config.os_version);
  if (latest != nullptr) {
    // No earlier report is at hand: cumulative counts only, no deltas, until the next report.
    e.facts.observations = pp::ObserveReport(*latest);
    e.previous.events = latest->events;
    e.latest_collected_ms = latest->collected_unix_ms;
    e.has_report = true;
  }
  EvaluateChecks(e);
  dirty_ = true;
}

void PolicyMonitor::Forget(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  if (hosts_.erase(host) > 0) dirty_ = true;
}

void PolicyMonitor::Reload(pp::Policy policy, int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = std::move(policy);
  loaded_unix_ms_ = now_unix_ms;
  last_error_.clear();
  for (auto& [name, e] : hosts_) EvaluateChecks(e);
  PublishLocked();
}

void PolicyMonitor::ReloadFailed(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  ++reloads_failed_;
  last_error_ = error;
  PublishLocked();
}

void PolicyMonitor::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  if (dirty_) PublishLocked();
}

std::shared_ptr<const PolicyResults> PolicyMonitor::Results() const {
  std::lock_guard<std::mutex> lock(mu_);
  return results_;
}

void PolicyMonitor::PublishLocked() {
  auto r = std::make_shared<PolicyResults>();
  r->origin = policy_.origin;
  r->loaded_unix_ms = loaded_unix_ms_;
  r->reloads_failed_total = reloads_failed_;
  r->last_reload_error = last_error_;
  std::vector<pp::HostFacts> known;
  for (const auto& [name, e] : hosts_) {
    if (!e.has_config) continue;
    known.push_back(e.facts);
    r->violations.insert(r->violations.end(), e.checks.begin(), e.checks.end());
  }
  r->hosts = static_cast<uint32_t>(known.size());
  pp::Policy peers;
  for (const pp::Rule& rule : policy_.rules) {
    if (rule.kind == pp::RuleKind::kPeer) peers.rules.push_back(rule);
  }
  if (!peers.rules.empty()) {
    std::vector<pp::Violation> v = pp::EvaluateFleet(peers, known);
    r->violations.insert(r->violations.end(), v.begin(), v.end());
  }
  std::sort(r->violations.begin(), r->violations.end(),
            [](const pp::Violation& a, const pp::Violation& b) {
              if (a.host != b.host) return a.host < b.host;
              if (a.severity != b.severity) return a.severity > b.severity;
              return a.rule_id < b.rule_id;
            });
  std::map<std::string, std::set<std::string>> violating;
  for (const pp::Violation& v : r->violations) violating[v.rule_id].insert(v.host);
  for (const pp::Rule& rule : policy_.rules) {
    PolicyRuleStats s;
    s.rule_id = rule.id;
    s.title = rule.title;
    s.severity = rule.severity;
    for (const pp::HostFacts& h : known) {
      if (pp::Applies(rule, h)) ++s.hosts_applicable;
    }
    s.hosts_violating = static_cast<uint32_t>(violating[rule.id].size());
    r->rules.push_back(std::move(s));
  }
  results_ = std::move(r);
  dirty_ = false;
}

}  // namespace portwatch::collector

// The collector's policy audit: keeps each host's latest settings and what its latest reports
// show, evaluates the policy on every report and on every reload, and publishes the results as
// an immutable snapshot that readers (metrics, the query API) take without blocking evaluation.
// Peer rules compare hosts with each other: they are re-evaluated by Tick when something changed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/policy/policy.h"
#include "portwatch/status.h"

namespace portwatch::collector {

/// Per rule: the hosts it applies to and those violating it.
struct PolicyRuleStats {
  std::string rule_id;
  std::string title;
  policy::Severity severity = policy::Severity::kWarning;
  uint32_t hosts_applicable = 0;
  uint32_t hosts_violating = 0;
  /// 1 - violating / applicable; 1 where the rule applies to no host.
  double compliance() const {
    return hosts_applicable == 0 ? 1.0
                                 : 1.0 - static_cast<double>(hosts_violating) / hosts_applicable;
  }
};

/// What readers see: a consistent copy of one evaluation.
struct PolicyResults {
  std::string origin;                         ///< the policy in force
  std::vector<policy::Violation> violations;  ///< sorted by host, severity, rule
  std::vector<PolicyRuleStats> rules;         ///< in policy order
  uint32_t hosts = 0;                         ///< hosts with known settings
  int64_t loaded_unix_ms = 0;                 ///< when the policy in force was loaded
  uint64_t reloads_failed_total = 0;
  std::string last_reload_error;  ///< empty after a good reload
};

class PolicyMonitor {
 public:
  explicit PolicyMonitor(policy::Policy policy, int64_t now_unix_ms = 0);

  /// A stored report of `host`: its settings (when it carries them) and its observations.
  /// Check rules are evaluated for this host at once; peer rules at the next Tick.
  void OnReport(const std::string& host, const Report& report);
  /// Puts back a host restored from the store (its last settings and latest report).
  void Restore(const std::string& host, const ConfigSnapshot& config, const Report* latest);
  /// Drops a host the collector no longer keeps (retention): its violations leave the results.
  void Forget(const std::string& host);
  /// Replaces the policy and re-evaluates every host.
  void Reload(policy::Policy policy, int64_t now_unix_ms);
  /// Records a reload that was refused (the policy in force stays).
  void ReloadFailed(const std::string& error);
  /// Re-evaluates peer rules if anything changed since the last call and publishes.
  void Tick();

  /// The latest published results (cheap: a shared pointer).
  std::shared_ptr<const PolicyResults> Results() const;

 private:
  struct HostEntry {
    policy::HostFacts facts;
    bool has_config = false;
    bool has_report = false;
    int64_t latest_collected_ms = 0;
    Report previous;  ///< the latest report's counters, for event_delta.* evidence
    std::vector<policy::Violation> checks;  ///< check-rule violations from the latest evaluation
  };
  void EvaluateChecks(HostEntry& e);
  void PublishLocked();

  mutable std::mutex mu_;
  policy::Policy policy_;
  int64_t loaded_unix_ms_ = 0;
  uint64_t reloads_failed_ = 0;
  std::string last_error_;
  std::map<std::string, HostEntry> hosts_;
  bool dirty_ = true;
  std::shared_ptr<const PolicyResults> results_;
};

}  // namespace portwatch::collector

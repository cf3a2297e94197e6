#include "src/policy_metrics.h"

#include <string>

#include "src/metric_families.h"

namespace portwatch::collector {

namespace pp = portwatch::policy;

std::vector<prometheus::MetricFamily> PolicyCollectable::Collect() const {
  using prometheus::MetricType;
  const std::shared_ptr<const PolicyResults> r = policy_.Results();
  auto violation = NewFamily("portwatch_policy_violation",
                             "1 for each rule of the policy a host violates, with its severity",
                             MetricType::Gauge);
  auto violating = NewFamily("portwatch_policy_rule_violating_hosts", "Hosts violating the rule",
                             MetricType::Gauge);
  auto compliance = NewFamily("portwatch_policy_rule_compliance_ratio",
                              "Share of the hosts the rule applies to that comply with it (1 "
                              "where it applies to none)",
                              MetricType::Gauge);
  auto applicable = NewFamily("portwatch_policy_rule_applicable_hosts",
                              "Hosts the rule's selector applies to", MetricType::Gauge);
  auto failed =
      NewFamily("portwatch_policy_reload_failures_total",
                "Policy reloads refused (the policy in force stayed)", MetricType::Counter);
  auto ok = NewFamily("portwatch_policy_last_reload_ok",
                      "1 when the last policy (re)load succeeded, 0 when it was refused",
                      MetricType::Gauge);
  auto loaded = NewFamily("portwatch_policy_loaded_timestamp_seconds",
                          "When the policy in force was loaded (Unix time)", MetricType::Gauge);
  for (const pp::Violation& v : r->violations) {
    AddSample(violation,
              {{"host", v.host}, {"rule", v.rule_id}, {"severity", pp::SeverityName(v.severity)}},
              1);
  }
  for (const PolicyRuleStats& s : r->rules) {
    const std::string sev = pp::SeverityName(s.severity);
    AddSample(violating, {{"rule", s.rule_id}, {"severity", sev}}, s.hosts_violating);
    AddSample(applicable, {{"rule", s.rule_id}, {"severity", sev}}, s.hosts_applicable);
    AddSample(compliance, {{"rule", s.rule_id}}, s.compliance());
  }
  AddSample(failed, {}, static_cast<double>(r->reloads_failed_total));
  AddSample(ok, {}, r->last_reload_error.empty() ? 1 : 0);
  AddSample(loaded, {}, static_cast<double>(r->loaded_unix_ms) / 1000.0);
  std::vector<prometheus::MetricFamily> out;
  for (auto* f : {&violation, &violating, &compliance, &applicable, &failed, &ok, &loaded}) {
    out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace portwatch::collector

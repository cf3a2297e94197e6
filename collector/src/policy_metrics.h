// Renders the policy audit as Prometheus metrics at scrape time from the PolicyMonitor's latest
// results: one series per violation (host, rule, severity), and per rule the violating hosts and
// the fleet's compliance. Cardinality: violations are bounded by hosts x rules of the policy in
// force; per-rule series by the rules.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "src/policy_monitor.h"

namespace portwatch::collector {

class PolicyCollectable final : public prometheus::Collectable {
 public:
  explicit PolicyCollectable(const PolicyMonitor& policy) : policy_(policy) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const PolicyMonitor& policy_;
};

}  // namespace portwatch::collector

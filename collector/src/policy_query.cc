#include "src/policy_query.h"

#include <algorithm>

namespace portwatch::collector {
namespace {

namespace pp = portwatch::policy;

void ViolationToProto(const pp::Violation& v, v1::PolicyViolation* out) {
  out->set_host(v.host);
  out->set_rule(v.rule_id);
  out->set_severity(SeverityToProto(v.severity));
  out->set_title(v.title);
  out->set_detail(v.detail);
  out->set_remediation(v.remediation);
  out->set_source(v.source);
}

}  // namespace

v1::PolicySeverity SeverityToProto(pp::Severity s) {
  switch (s) {
    case pp::Severity::kInfo:
      return v1::POLICY_SEVERITY_INFO;
    case pp::Severity::kWarning:
      return v1::POLICY_SEVERITY_WARNING;
    case pp::Severity::kCritical:
      return v1::POLICY_SEVERITY_CRITICAL;
  }
  return v1::POLICY_SEVERITY_UNSPECIFIED;
}

void ViolationsToProto(const PolicyResults& results, const v1::ListViolationsRequest& req,
                       v1::ListViolationsResponse* out) {
  out->set_policy(results.origin);
  out->set_hosts_evaluated(results.hosts);
  out->set_last_reload_error(results.last_reload_error);
  for (const pp::Violation& v : results.violations) {
    if (!req.rule().empty() && v.rule_id != req.rule()) continue;
    if (!req.host().empty() && v.host != req.host()) continue;
    if (SeverityToProto(v.severity) < req.severity()) continue;
    ViolationToProto(v, out->add_violations());
  }
  for (const PolicyRuleStats& s : results.rules) {
    if (!req.rule().empty() && s.rule_id != req.rule()) continue;
    if (SeverityToProto(s.severity) < req.severity()) continue;
    v1::PolicyRuleCompliance* c = out->add_rules();
    c->set_rule(s.rule_id);
    c->set_severity(SeverityToProto(s.severity));
    c->set_title(s.title);
    c->set_hosts_applicable(s.hosts_applicable);
    c->set_hosts_violating(s.hosts_violating);
    c->set_compliance(s.compliance());
  }
}

namespace {

// The host's run of violations: they are sorted by host, then worst first.
std::pair<std::vector<pp::Violation>::const_iterator, std::vector<pp::Violation>::const_iterator>
HostRange(const PolicyResults& results, const std::string& host) {
  auto first =
      std::lower_bound(results.violations.begin(), results.violations.end(), host,
                       [](const pp::Violation& v, const std::string& h) { return v.host < h; });
  auto last = first;
  while (last != results.violations.end() && last->host == host) ++last;
  return {first, last};
}

}  // namespace

void HostPolicyInfoToProto(const PolicyResults& results, const std::string& host,
                           v1::HostInfo* out) {
  const auto [first, last] = HostRange(results, host);
  out->set_policy_violations(static_cast<uint32_t>(last - first));
  if (first != last) out->set_worst_violation(SeverityToProto(first->severity));
}

void HostViolationsToProto(const PolicyResults& results, const std::string& host,
                           v1::HostDetail* out) {
  HostPolicyInfoToProto(results, host, out->mutable_info());
  const auto [first, last] = HostRange(results, host);
  for (auto it = first; it != last; ++it) ViolationToProto(*it, out->add_violations());
}

}  // namespace portwatch::collector

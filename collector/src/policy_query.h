// The policy audit's answers in the query API: the protobuf form of the PolicyMonitor's results.
#pragma once

#include <string>

#include "portwatch/v1/query.pb.h"
#include "src/policy_monitor.h"

namespace portwatch::collector {

v1::PolicySeverity SeverityToProto(policy::Severity s);

/// Fills a ListViolations answer from `results`, applying the request's filters.
void ViolationsToProto(const PolicyResults& results, const v1::ListViolationsRequest& req,
                       v1::ListViolationsResponse* out);

/// Sets HostInfo.policy_violations and worst_violation for `host`.
void HostPolicyInfoToProto(const PolicyResults& results, const std::string& host,
                           v1::HostInfo* out);

/// Adds `host`'s violations to its detail (HostDetail.violations, HostInfo.policy_violations and
/// worst_violation).
void HostViolationsToProto(const PolicyResults& results, const std::string& host,
                           v1::HostDetail* out);

}  // namespace portwatch::collector

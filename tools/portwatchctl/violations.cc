#include "violations.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

namespace portwatch::ctl {
namespace {

const char* SeverityName(v1::PolicySeverity s) {
  switch (s) {
    case v1::POLICY_SEVERITY_INFO:
      return "info";
    case v1::POLICY_SEVERITY_WARNING:
      return "warning";
    case v1::POLICY_SEVERITY_CRITICAL:
      return "critical";
    default:
      return "-";
  }
}

// Host names and settings come from agents: no control characters reach the terminal, and a
// long value is cut.
std::string Shown(const std::string& s, size_t max = 200) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  return out;
}

void PrintViolation(const v1::PolicyViolation& v, bool with_host) {
  if (with_host) {
    std::printf("%-28s %-9s %-46s %s\n", Shown(v.host(), 28).c_str(), SeverityName(v.severity()),
                Shown(v.rule(), 46).c_str(), Shown(v.title()).c_str());
  } else {
    std::printf("  [%s] %s: %s\n", SeverityName(v.severity()), Shown(v.rule()).c_str(),
                Shown(v.title()).c_str());
  }
  std::printf("%s    found: %s\n%s    fix:   %s\n", with_host ? "" : "  ",
              Shown(v.detail(), 400).c_str(), with_host ? "" : "  ",
              Shown(v.remediation(), 400).c_str());
}

}  // namespace

CLI::App* AddViolationsCommand(CLI::App& app, ViolationsFlags* flags) {
  CLI::App* cmd = app.add_subcommand(
      "violations", "Policy rules hosts violate now, with the fix, and each rule's compliance");
  cmd->add_option("--rule", flags->rule, "Only this rule id");
  cmd->add_option("--host", flags->host, "Only this host");
  cmd->add_option("--severity", flags->severity,
                  "Only this severity or worse (info, warning, critical)");
  return cmd;
}

int RunViolations(v1::Query::Stub& stub, grpc::ClientContext& ctx, const ViolationsFlags& flags,
                  bool json, const std::function<int(const grpc::Status&)>& rpc_fail) {
  v1::ListViolationsRequest req;
  req.set_rule(flags.rule);
  req.set_host(flags.host);
  if (!flags.severity.empty()) {
    const v1::PolicySeverity all[] = {v1::POLICY_SEVERITY_INFO, v1::POLICY_SEVERITY_WARNING,
                                      v1::POLICY_SEVERITY_CRITICAL};
    bool found = false;
    for (v1::PolicySeverity s : all) {
      if (flags.severity == SeverityName(s)) {
        req.set_severity(s);
        found = true;
      }
    }
    if (!found) {
      std::fprintf(stderr,
                   "portwatchctl: --severity '%s' is not a severity; use info, warning or "
                   "critical\n",
                   Shown(flags.severity).c_str());
      return 2;
    }
  }
  v1::ListViolationsResponse resp;
  grpc::Status st = stub.ListViolations(&ctx, req, &resp);
  if (!st.ok()) return rpc_fail(st);
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    o.preserve_proto_field_names = true;
    o.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(resp, &out, o);
    std::puts(out.c_str());
    return 0;
  }
  std::printf("%-28s %-9s %-46s %s\n", "HOST", "SEVERITY", "RULE", "TITLE");
  for (const v1::PolicyViolation& v : resp.violations()) PrintViolation(v, true);
  std::printf("(%d violations on %u hosts evaluated; policy: %s)\n", resp.violations_size(),
              resp.hosts_evaluated(), Shown(resp.policy()).c_str());
  if (!resp.last_reload_error().empty()) {
    std::printf("the last policy reload was refused: %s\n",
                Shown(resp.last_reload_error(), 400).c_str());
  }
  std::printf("\n%-46s %-9s %10s %9s %10s\n", "RULE", "SEVERITY", "APPLIES TO", "VIOLATING",
              "COMPLIANT");
  for (const v1::PolicyRuleCompliance& r : resp.rules()) {
    std::printf("%-46s %-9s %10u %9u %9.1f%%\n", Shown(r.rule(), 46).c_str(),
                SeverityName(r.severity()), r.hosts_applicable(), r.hosts_violating(),
                100 * r.compliance());
  }
  return 0;
}

void PrintHostViolations(const v1::HostDetail& detail) {
  if (detail.violations().empty()) return;
  std::printf("\nVIOLATIONS (%u)\n", detail.info().policy_violations());
  for (const v1::PolicyViolation& v : detail.violations()) PrintViolation(v, false);
}

}  // namespace portwatch::ctl

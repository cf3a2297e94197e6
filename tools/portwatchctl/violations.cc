#include "violations.h"

#include <google/protobuf/util/json_util.h>

#include <cstdarg>
#include <cstdio>

#include "src/ui/text_format.h"

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

// Host names and settings come from agents: control characters are escaped before they reach
// a terminal, and a long value is cut.
std::string Shown(const std::string& s, size_t max = 200) { return text::CleanText(s, max); }

void Appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string* out, const char* fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

void FormatViolation(const v1::PolicyViolation& v, bool with_host, std::string* out) {
  if (with_host) {
    Appendf(out, "%-28s %-9s %-46s %s\n", Shown(v.host(), 28).c_str(), SeverityName(v.severity()),
                Shown(v.rule(), 46).c_str(), Shown(v.title()).c_str());
  } else {
    Appendf(out, "  [%s] %s: %s\n", SeverityName(v.severity()), Shown(v.rule()).c_str(),
                Shown(v.title()).c_str());
  }
  Appendf(out, "%s    found: %s\n%s    fix:   %s\n", with_host ? "" : "  ",
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
                  bool json, const std::function<int(const grpc::Status&)>& rpc_fail,
                  std::string* out) {
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
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    o.preserve_proto_field_names = true;
    o.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(resp, out, o);
    *out += "\n";
    return 0;
  }
  Appendf(out, "%-28s %-9s %-46s %s\n", "HOST", "SEVERITY", "RULE", "TITLE");
  for (const v1::PolicyViolation& v : resp.violations()) FormatViolation(v, true, out);
  Appendf(out, "(%d violations on %u hosts evaluated; policy: %s)\n", resp.violations_size(),
              resp.hosts_evaluated(), Shown(resp.policy()).c_str());
  if (!resp.last_reload_error().empty()) {
    Appendf(out, "the last policy reload was refused: %s\n",
                Shown(resp.last_reload_error(), 400).c_str());
  }
  Appendf(out, "\n%-46s %-9s %10s %9s %10s\n", "RULE", "SEVERITY", "APPLIES TO", "VIOLATING",
              "COMPLIANT");
  for (const v1::PolicyRuleCompliance& r : resp.rules()) {
    Appendf(out, "%-46s %-9s %10u %9u %9.1f%%\n", Shown(r.rule(), 46).c_str(),
                SeverityName(r.severity()), r.hosts_applicable(), r.hosts_violating(),
                100 * r.compliance());
  }
  return 0;
}

std::string FormatHostViolations(const v1::HostDetail& detail) {
  std::string out;
  if (detail.violations().empty()) return out;
  Appendf(&out, "\nVIOLATIONS (%u)\n", detail.info().policy_violations());
  for (const v1::PolicyViolation& v : detail.violations()) FormatViolation(v, false, &out);
  return out;
}

}  // namespace portwatch::ctl

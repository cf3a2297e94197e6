#include "src/audit_command.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "portwatch/policy/default_policy.h"
#include "portwatch/policy/policy.h"
#ifdef PORTWATCH_HAVE_POLICY_YAML
#include "portwatch/policy/policy_yaml.h"
#endif

namespace portwatch::agent {
namespace {

namespace pp = portwatch::policy;

Expected<pp::Policy> LoadPolicy(const std::string& file) {
  if (file.empty()) return pp::DefaultPolicy();
#ifdef PORTWATCH_HAVE_POLICY_YAML
  return pp::LoadPolicyFile(file);
#else
  // The mingw build has no YAML parser (Debian ships no mingw yaml-cpp); the MSVC build with
  // vcpkg's yaml-cpp reads policy files.
  return Status::Error("--policy " + file +
                       ": this build cannot read YAML policies (built without yaml-cpp); run "
                       "without --policy for the built-in default policy, or use the MSVC build");
#endif
}

OsKind ThisOs() {
#ifdef _WIN32
  return OsKind::kWindows;
#else
  return OsKind::kLinux;
#endif
}

std::string Table(const std::string& host, const pp::Policy& policy,
                  const std::vector<pp::Violation>& violations, const std::string& os_version) {
  std::string out = "portwatch audit of " + host + " (" + os_version + ") against " +
                    policy.origin + ": " + std::to_string(policy.rules.size()) + " rules, " +
                    std::to_string(violations.size()) + " violated\n";
  for (const pp::Violation& v : violations) {
    out += "\n[" + std::string(pp::SeverityName(v.severity)) + "] " + v.rule_id + ": " + v.title +
           "\n  found:  " + v.detail + "\n  fix:    " + v.remediation + "\n  source: " + v.source +
           "\n";
  }
  if (violations.empty()) out += "no rule is violated\n";
  return out;
}

std::string Json(const std::string& host, const pp::Policy& policy,
                 const std::vector<pp::Violation>& violations, const std::string& os_version) {
  nlohmann::json j;
  j["host"] = host;
  j["os_version"] = os_version;
  j["policy"] = policy.origin;
  j["rules"] = policy.rules.size();
  j["violations"] = nlohmann::json::array();
  for (const pp::Violation& v : violations) {
    j["violations"].push_back({{"rule", v.rule_id},
                               {"severity", pp::SeverityName(v.severity)},
                               {"title", v.title},
                               {"detail", v.detail},
                               {"remediation", v.remediation},
                               {"source", v.source}});
  }
  // Settings come from the host; replace anything that is not UTF-8 instead of failing.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

CLI::App* AddAuditCommand(CLI::App& app, AuditFlags* flags) {
  CLI::App* audit = app.add_subcommand(
      "audit",
      "Check this host's TCP settings and current traffic against the policy (the "
      "built-in default, or --policy FILE) and exit; no collector needed");
  audit->add_option("--policy", flags->policy_file, "Policy file (YAML) instead of the default");
  audit->add_flag("--json", flags->json, "JSON instead of a table");
  return audit;
}

Expected<AuditResult> AuditThisHost(const AuditFlags& flags, const std::string& host_name,
                                    Sampler& sampler) {
  auto policy = LoadPolicy(flags.policy_file);
  if (!policy.ok()) return policy.status();
  // Two samples a second apart: the second's counters minus the first's are the "rising"
  // evidence (listen overflows, Tcpip events) a single reading cannot show.
  Report first, second;
  sampler.ForceConfig();
  Status st = sampler.Sample(&first);
  if (st.ok()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    sampler.ForceConfig();
    st = sampler.Sample(&second);
  }
  if (!st.ok()) return Status::Error("cannot sample this host: " + st.message());
  if (!second.has_config) {
    return Status::Error("this host's TCP settings could not be read: " +
                         second.events.degraded_reason);
  }
  AuditResult r;
  r.policy = std::move(*policy);
  r.facts.host = host_name;
  r.facts.os = ThisOs();
  r.facts.os_version = second.config.os_version;
  r.facts.config = second.config;
  r.facts.observations = pp::ObserveReport(second, &first);
  r.violations = pp::EvaluateHost(r.policy, r.facts);
  return r;
}

int RunAudit(const AuditFlags& flags, const std::string& host_name, Sampler& sampler) {
  auto r = AuditThisHost(flags, host_name, sampler);
  if (!r.ok()) {
    std::fprintf(stderr, "portwatch-agent audit: %s\n", r.error().c_str());
    return 2;
  }
  const std::string& os = r->facts.os_version;
  const std::string out = flags.json ? Json(host_name, r->policy, r->violations, os)
                                     : Table(host_name, r->policy, r->violations, os);
  std::fputs(out.c_str(), stdout);
  return r->violations.empty() ? 0 : 1;
}

}  // namespace portwatch::agent

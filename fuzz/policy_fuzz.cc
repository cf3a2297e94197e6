// The policy parser (the collector's --policy file and the agent's `audit --policy`, YAML) on
// arbitrary text, then the accepted policy evaluated over a small fleet as the collector does.
// Beyond not crashing: what the parser accepts passes Validate, and every violation names a rule
// of the policy and a host of the fleet.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "portwatch/policy/policy.h"
#include "portwatch/policy/policy_yaml.h"

namespace pp = portwatch::policy;

namespace {

portwatch::ConfigValue Int(const std::string& key, int64_t v) {
  portwatch::ConfigValue c;
  c.key = key;
  c.present = true;
  c.int_value = v;
  return c;
}

// A Linux host and three Windows hosts of one version (a group big enough for peer rules), one of
// which differs: values of the kinds the agents report.
std::vector<pp::HostFacts> Fleet() {
  std::vector<pp::HostFacts> fleet;
  pp::HostFacts linux_host;
  linux_host.host = "db01";
  linux_host.os = portwatch::OsKind::kLinux;
  linux_host.os_version = "Linux 6.1.0-18-amd64";
  linux_host.labels = {{"role", "db"}};
  linux_host.config.os_version = linux_host.os_version;
  linux_host.config.values = {Int("ephemeral.ports", 28232), Int("net.ipv4.tcp_fin_timeout", 60),
                              Int("net.ipv4.tcp_syncookies", 0), Int("net.ipv4.tcp_tw_reuse", 2)};
  linux_host.observations = {{"time_wait", 20000},
                             {"ephemeral_utilization", 0.8},
                             {"event.TcpExt.TCPTimeWaitOverflow", 3}};
  fleet.push_back(linux_host);
  for (int i = 0; i < 3; ++i) {
    pp::HostFacts w;
    w.host = "web0" + std::to_string(i);
    w.os = portwatch::OsKind::kWindows;
    w.os_version = "Windows 6.1.7601 Service Pack 1";
    w.config.os_version = w.os_version;
    w.config.values = {Int("Tcpip.MaxUserPort", i == 2 ? 5000 : 65534),
                       Int("Tcpip.TcpTimedWaitDelay", i == 2 ? 240 : 30)};
    w.observations = {{"time_wait", 100.0 * i}, {"event.Tcpip.4227", 1.0 * i}};
    fleet.push_back(w);
  }
  return fleet;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<pp::HostFacts> fleet = Fleet();
  auto policy =
      pp::ParsePolicyYaml(std::string(reinterpret_cast<const char*>(data), size), "policy.yaml");
  if (!policy.ok()) return 0;
  if (!pp::Validate(*policy).ok()) std::abort();
  std::set<std::string> ids, hosts;
  for (const pp::Rule& r : policy->rules) ids.insert(r.id);
  for (const pp::HostFacts& h : fleet) hosts.insert(h.host);
  for (const pp::Violation& v : pp::EvaluateFleet(*policy, fleet)) {
    if (ids.count(v.rule_id) == 0 || hosts.count(v.host) == 0) std::abort();
  }
  return 0;
}

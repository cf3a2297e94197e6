// PolicyMonitor: evaluation on reports, restore, reload (good and refused), peer rules at Tick,
// and the metrics rendered from its results.
#include "src/policy_monitor.h"

#include <gtest/gtest.h>

#include "portwatch/policy/default_policy.h"
#include "src/policy_metrics.h"
#include "src/settings_test_util.h"

namespace portwatch::collector {
namespace {

namespace pp = portwatch::policy;

std::vector<std::string> Ids(const PolicyResults& r, const std::string& host) {
  std::vector<std::string> out;
  for (const pp::Violation& v : r.violations) {
    if (v.host == host) out.push_back(v.rule_id);
  }
  return out;
}

const PolicyRuleStats& Stats(const PolicyResults& r, const std::string& id) {
  for (const PolicyRuleStats& s : r.rules) {
    if (s.rule_id == id) return s;
  }
  static PolicyRuleStats none;
  return none;
}

TEST(PolicyMonitor, EvaluatesReportsAndClearsWhenFixed) {
  PolicyMonitor m(pp::DefaultPolicy());
  m.OnReport("a", LinuxPolicyReport(0));
  m.OnReport("b", LinuxPolicyReport(1));
  m.Tick();
  auto r = m.Results();
  EXPECT_EQ(Ids(*r, "a"), std::vector<std::string>{"linux-syncookies-off"});
  EXPECT_TRUE(Ids(*r, "b").empty());
  EXPECT_EQ(Stats(*r, "linux-syncookies-off").hosts_applicable, 2u);
  EXPECT_EQ(Stats(*r, "linux-syncookies-off").hosts_violating, 1u);
  EXPECT_DOUBLE_EQ(Stats(*r, "linux-syncookies-off").compliance(), 0.5);
  // A report without settings keeps the last ones; rising overflows are evidence.
  Report no_config = LinuxPolicyReport(0, 50);
  no_config.has_config = false;
  m.OnReport("a", no_config);
  m.Tick();
  EXPECT_EQ(Ids(*m.Results(), "a"),
            (std::vector<std::string>{"linux-syn-backlog-tiny", "linux-syncookies-off"}));
  m.OnReport("a", LinuxPolicyReport(1, 50));  // fixed, and the counter stopped rising
  m.Tick();
  EXPECT_TRUE(Ids(*m.Results(), "a").empty());
  // The snapshot taken earlier is unchanged: readers hold a consistent copy.
  EXPECT_EQ(Ids(*r, "a"), std::vector<std::string>{"linux-syncookies-off"});
}

TEST(PolicyMonitor, ForgottenHostsLeaveTheResults) {
  PolicyMonitor m(pp::DefaultPolicy());
  m.OnReport("a", LinuxPolicyReport(0));
  m.Tick();
  ASSERT_EQ(m.Results()->hosts, 1u);
  m.Forget("a");
  m.Tick();
  EXPECT_EQ(m.Results()->hosts, 0u);
  EXPECT_TRUE(m.Results()->violations.empty());
  EXPECT_EQ(Stats(*m.Results(), "linux-syncookies-off").hosts_applicable, 0u);
}

TEST(PolicyMonitor, ALateReplayDoesNotReplaceNewerSettings) {
  PolicyMonitor m(pp::DefaultPolicy());
  Report now = LinuxPolicyReport(1);
  now.collected_unix_ms = 2000;
  m.OnReport("a", now);
  Report old = LinuxPolicyReport(0);  // replayed from the spool after an outage
  old.collected_unix_ms = 1000;
  m.OnReport("a", old);
  m.Tick();
  EXPECT_TRUE(Ids(*m.Results(), "a").empty());
}

TEST(PolicyMonitor, RestoredHostsShowTheirViolationsAtOnce) {
  PolicyMonitor m(pp::DefaultPolicy());
  Report last = LinuxPolicyReport(0);
  m.Restore("a", last.config, &last);
  m.Tick();
  EXPECT_EQ(Ids(*m.Results(), "a"), std::vector<std::string>{"linux-syncookies-off"});
}

TEST(PolicyMonitor, ReloadReEvaluatesAndARefusedReloadKeepsThePolicy) {
  PolicyMonitor m(pp::DefaultPolicy());
  m.OnReport("a", LinuxPolicyReport(0));
  m.Tick();
  pp::Policy strict;
  strict.origin = "strict.yaml";
  pp::Rule rule;
  rule.id = "backlog";
  rule.title = "backlog below 128";
  rule.severity = pp::Severity::kCritical;
  rule.when.push_back(pp::MakeCondition("net.ipv4.tcp_max_syn_backlog", pp::Op::kLt, 128));
  strict.rules.push_back(rule);
  m.Reload(strict, 1000);
  auto r = m.Results();
  EXPECT_EQ(r->origin, "strict.yaml");
  EXPECT_EQ(Ids(*r, "a"), std::vector<std::string>{"backlog"});
  m.ReloadFailed("bad.yaml line 3: ...");
  r = m.Results();
  EXPECT_EQ(r->origin, "strict.yaml");
  EXPECT_EQ(Ids(*r, "a"), std::vector<std::string>{"backlog"});
  EXPECT_EQ(r->reloads_failed_total, 1u);
  EXPECT_EQ(r->last_reload_error, "bad.yaml line 3: ...");
}

TEST(PolicyMonitor, PeerRulesComparePublishedHosts) {
  PolicyMonitor m(pp::DefaultPolicy());
  for (const char* h : {"a", "b", "c"}) m.OnReport(h, LinuxPolicyReport(1));
  Report odd = LinuxPolicyReport(1);
  odd.config.values[2].string_value = "20000 60999";
  m.OnReport("d", odd);
  m.Tick();
  EXPECT_EQ(Ids(*m.Results(), "d"), std::vector<std::string>{"linux-peer-port-range"});
}

TEST(PolicyMetrics, RendersViolationsAndCompliance) {
  PolicyMonitor m(pp::DefaultPolicy());
  m.OnReport("a", LinuxPolicyReport(0));
  m.Tick();
  PolicyCollectable c(m);
  bool saw_violation = false, saw_compliance = false;
  for (const auto& f : c.Collect()) {
    for (const auto& s : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& x : s.label) l[x.name] = x.value;
      if (f.name == "portwatch_policy_violation") {
        EXPECT_EQ(l["host"], "a");
        EXPECT_EQ(l["rule"], "linux-syncookies-off");
        EXPECT_EQ(l["severity"], "warning");
        saw_violation = true;
      }
      if (f.name == "portwatch_policy_rule_compliance_ratio" && l["rule"] == "linux-syncookies-off") {
        EXPECT_EQ(s.gauge.value, 0);
        saw_compliance = true;
      }
    }
  }
  EXPECT_TRUE(saw_violation);
  EXPECT_TRUE(saw_compliance);
}

}  // namespace
}  // namespace portwatch::collector

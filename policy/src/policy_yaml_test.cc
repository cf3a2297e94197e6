// Reading policies from YAML: the shipped file, errors that name the line, and the generated
// built-in copy matching the file rule for rule.
#include "portwatch/policy/policy_yaml.h"

#include <gtest/gtest.h>

#include "portwatch/policy/default_policy.h"

namespace portwatch::policy {
namespace {

TEST(PolicyYaml, ShippedFileMatchesTheBuiltInCopy) {
  auto file = LoadPolicyFile(PW_DEFAULT_POLICY_FILE);
  ASSERT_TRUE(file.ok()) << file.error();
  const Policy built = DefaultPolicy();
  ASSERT_EQ(file->rules.size(), built.rules.size());
  for (size_t i = 0; i < built.rules.size(); ++i) {
    const Rule& a = file->rules[i];
    const Rule& b = built.rules[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.title, b.title);
    EXPECT_EQ(a.severity, b.severity);
    EXPECT_EQ(a.remediation, b.remediation);
    EXPECT_EQ(a.source, b.source);
    EXPECT_EQ(a.selector.os, b.selector.os);
    EXPECT_EQ(a.selector.version.min, b.selector.version.min);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.peer_setting, b.peer_setting);
    ASSERT_EQ(a.when.size(), b.when.size()) << a.id;
    ASSERT_EQ(a.evidence.size(), b.evidence.size()) << a.id;
    for (size_t k = 0; k < a.when.size(); ++k) {
      EXPECT_EQ(a.when[k].subject, b.when[k].subject);
      EXPECT_EQ(a.when[k].op, b.when[k].op);
      EXPECT_EQ(a.when[k].value, b.when[k].value);
    }
  }
}

TEST(PolicyYaml, ParsesEveryPart) {
  auto p = ParsePolicyYaml(R"(version: 1
rules:
  - id: r1
    title: T
    severity: critical
    selector: {os: linux, version: {min: "4.19"}, hosts: ["web*"], labels: {role: web}}
    when:
      - {setting: net.ipv4.ip_local_port_range, eq: "32768 60999"}
      - {setting: net.ipv4.tcp_fin_timeout, between: [10, 30], raw: true}
    evidence:
      - {observe: event.TcpExt.ListenOverflows, gt: 0}
    remediation: fix
  - id: r2
    title: peer
    severity: info
    type: peer
    peer: {setting: Tcpip.TcpTimedWaitDelay, min_group: 4}
)",
                           "p.yaml");
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_EQ(p->rules.size(), 2u);
  const Rule& r = p->rules[0];
  EXPECT_EQ(r.severity, Severity::kCritical);
  EXPECT_EQ(r.selector.os, OsKind::kLinux);
  EXPECT_EQ(r.selector.hosts, std::vector<std::string>{"web*"});
  EXPECT_EQ(r.selector.labels.at("role"), "web");
  EXPECT_TRUE(r.when[0].is_text);
  EXPECT_EQ(r.when[1].op, Op::kBetween);
  EXPECT_TRUE(r.when[1].raw);
  EXPECT_EQ(r.when[1].high, 30);
  EXPECT_EQ(r.line, 3);
  EXPECT_EQ(p->rules[1].kind, RuleKind::kPeer);
  EXPECT_EQ(p->rules[1].peer_min_group, 4u);
}

void ExpectError(const std::string& yaml, const std::string& want) {
  auto p = ParsePolicyYaml(yaml, "bad.yaml");
  ASSERT_FALSE(p.ok()) << yaml;
  EXPECT_NE(p.error().find(want), std::string::npos) << p.error();
}

TEST(PolicyYaml, ErrorsNameTheLineAndTheProblem) {
  const std::string head = "rules:\n  - id: r\n    title: t\n";
  ExpectError(head + "    severity: high\n    when: [{setting: net.x, eq: 1}]\n",
              "bad.yaml line 4: rule 'r': severity 'high' is not info, warning or critical");
  ExpectError(head + "    severity: info\n    when:\n      - {setting: net.x, gt: lots}\n",
              "bad.yaml line 6: rule 'r' when gt: 'lots' is not a number");
  ExpectError(head + "    severity: info\n    when:\n      - {setting: net.x}\n",
              "line 6: rule 'r' when 'net.x' needs exactly one test");
  ExpectError(head + "    severity: info\n    wen: []\n", "line 5: rule 'r': unknown key 'wen'");
  ExpectError(head + "    severity: info\n    when: [{setting: net.x, eq: 1}\n", "bad.yaml line ");
  ExpectError(head + "    severity: info\n    evidence: [{observe: tw_share, gt: 1}]\n",
              "observation 'tw_share' is not known");
  const std::string rule =
      "  - id: r\n    title: t\n    severity: info\n    when: [{setting: Tcpip.X, eq: 1}]\n";
  ExpectError("rules:\n" + rule + rule, "rule 'r' (line 6): the id is used twice");
  ExpectError("rules: 3\n", "line 1: the policy needs a 'rules' list");
}

TEST(PolicyYaml, MissingFileSaysWhich) {
  auto p = LoadPolicyFile("/nonexistent/policy.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().find("/nonexistent/policy.yaml"), std::string::npos) << p.error();
}

}  // namespace
}  // namespace portwatch::policy

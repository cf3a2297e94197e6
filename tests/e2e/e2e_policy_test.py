"""End to end: the policy audit on an agent's real config snapshot.

In a network namespace of its own (the host's settings are untouched) the test narrows
ip_local_port_range with sysctl; the agent's snapshot reaches the collector, the violation shows
in the metric and in `portwatchctl violations`, survives a collector restart at once, and clears
when the setting is fixed. The policy file is reloaded on SIGHUP (a broken file is refused with
its line, the old policy stays) and when it changes. Needs root and iproute2; skips with the
reason where a namespace cannot be created."""
import os
import shutil
import signal
import subprocess
import sys

from harness import ProcessTestCase, parse_metrics, wait_for

HOST = "e2e-policy"
RULE = "linux-port-range-narrow"
DEFAULT_POLICY = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "policy",
                              "default.yaml")
SCRAPE = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"


class PolicyTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.ns = self.netns()  # skips with the reason where a namespace cannot be made
        self.in_ns = tuple(self.ns.argv())
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST, operators=("portwatchctl",))
        self.db = os.path.join(self.tmp, "collector.db")
        self.policy = os.path.join(self.tmp, "policy.yaml")
        shutil.copy(DEFAULT_POLICY, self.policy)

    def collector(self, name):
        return self.start_collector(self.pki, name=name, db=self.db, prefix=self.in_ns,
                                    extra=("--policy", self.policy))

    def scrape_ns(self, port):
        r = subprocess.run([*self.in_ns, sys.executable, "-c", SCRAPE,
                            f"http://127.0.0.1:{port}/metrics"],
                           capture_output=True, text=True, timeout=30, check=True)
        return r.stdout

    def violation_metric(self, col, rule=RULE):
        return self.metric(self.scrape_ns(col["metrics_port"]), "portwatch_policy_violation",
                           host=HOST, rule=rule)

    def violations(self, col, *args):
        rc, out, err = self.ctl(self.pki, col["grpc_port"], *args, "violations", "--host", HOST,
                                prefix=self.in_ns)
        self.assertEqual(rc, 0, err)
        return out

    def test_narrowed_range_is_flagged_survives_restart_and_clears_when_fixed(self):
        self.ns.sysctl("net.ipv4.ip_local_port_range", "50000 51000")
        col = self.collector("collector")
        agent = self.start_agent(self.pki, HOST, col["grpc_port"], prefix=self.in_ns)
        wait_for(lambda: self.violation_metric(col) == 1, what="the violation metric")
        sample = [s for s in parse_metrics(self.scrape_ns(col["metrics_port"]))
                  if s[0] == "portwatch_policy_violation" and s[1].get("rule") == RULE]
        self.assertEqual(sample[0][1]["severity"], "warning")
        self.assertEqual(self.metric(self.scrape_ns(col["metrics_port"]),
                                     "portwatch_policy_rule_violating_hosts", rule=RULE), 1)
        promtool = shutil.which("promtool")
        if promtool:  # the policy families follow Prometheus' naming conventions
            text = self.scrape_ns(col["metrics_port"])
            policy_text = "".join(line + "\n" for line in text.splitlines()
                                  if "portwatch_policy_" in line)
            r = subprocess.run([promtool, "check", "metrics"], input=policy_text,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = self.violations(col)
        self.assertIn(RULE, out)
        self.assertIn('net.ipv4.ip_local_port_range="32768 60999"', out)  # the fix
        self.assertIn("ephemeral.ports=1001", out)  # what was found
        rc, js, err = self.ctl(self.pki, col["grpc_port"], "--json", "violations", "--rule", RULE,
                               prefix=self.in_ns)
        self.assertEqual(rc, 0, err)
        self.assertIn(f'"host": "{HOST}"', js)
        rc, detail, err = self.ctl(self.pki, col["grpc_port"], "host", HOST, prefix=self.in_ns)
        self.assertEqual(rc, 0, err)
        self.assertIn("VIOLATIONS (1)", detail)
        rc, js, err = self.ctl(self.pki, col["grpc_port"], "--json", "hosts", prefix=self.in_ns)
        self.assertEqual(rc, 0, err)
        self.assertIn('"policy_violations": 1', js)
        self.assertIn('"worst_violation": "POLICY_SEVERITY_WARNING"', js)

        # Restart without the agent: the stored settings show the same violation at once.
        self.assertEqual(self.stop(agent), 0)
        self.assertEqual(self.stop(col["proc"]), 0)
        col = self.collector("collector2")
        self.assertEqual(self.violation_metric(col), 1)
        self.assertIn(RULE, self.violations(col))

        # Fixed on the host: the next snapshot clears it.
        self.ns.sysctl("net.ipv4.ip_local_port_range", "32768 60999")
        self.start_agent(self.pki, HOST, col["grpc_port"], prefix=self.in_ns, name="agent2")
        wait_for(lambda: self.violation_metric(col) is None, what="the violation to clear")
        self.assertEqual(self.metric(self.scrape_ns(col["metrics_port"]),
                                     "portwatch_policy_rule_compliance_ratio", rule=RULE), 1)
        self.assertIn("(0 violations on 1 hosts evaluated", self.violations(col))

    def test_sighup_refuses_a_broken_file_and_a_changed_file_is_reloaded(self):
        self.ns.sysctl("net.ipv4.tcp_syncookies", "0")
        col = self.collector("collector")
        self.start_agent(self.pki, HOST, col["grpc_port"], prefix=self.in_ns)
        wait_for(lambda: self.violation_metric(col, "linux-syncookies-off") == 1,
                 what="the syncookies violation")

        with open(self.policy, "a") as f:
            f.write("  - id: broken\n    title: t\n    severity: urgent\n")
        col["proc"].send_signal(signal.SIGHUP)
        wait_for(lambda: "policy reload refused" in self.log_of("collector"),
                 what="the refused reload in the log")
        log = self.log_of("collector")
        self.assertRegex(log, r"policy\.yaml line \d+: rule 'broken': severity 'urgent' is not")
        text = self.scrape_ns(col["metrics_port"])
        self.assertEqual(self.metric(text, "portwatch_policy_last_reload_ok"), 0)
        self.assertEqual(self.metric(text, "portwatch_policy_violation", host=HOST,
                                     rule="linux-syncookies-off"), 1)  # the old policy stays
        rc, out, err = self.ctl(self.pki, col["grpc_port"], "violations", prefix=self.in_ns)
        self.assertEqual(rc, 0, err)
        self.assertIn("the last policy reload was refused", out)

        # A good file replaces it without a signal: only one custom rule, severity critical.
        with open(self.policy + ".new", "w") as f:
            f.write("rules:\n  - id: custom-syncookies\n    title: syncookies off\n"
                    "    severity: critical\n    selector: {os: linux}\n"
                    "    when: [{setting: net.ipv4.tcp_syncookies, eq: 0}]\n"
                    "    remediation: sysctl -w net.ipv4.tcp_syncookies=1\n")
        os.replace(self.policy + ".new", self.policy)
        wait_for(lambda: self.violation_metric(col, "custom-syncookies") == 1,
                 what="the reloaded policy's violation")
        text = self.scrape_ns(col["metrics_port"])
        self.assertIsNone(self.metric(text, "portwatch_policy_violation", host=HOST,
                                      rule="linux-syncookies-off"))
        self.assertEqual(self.metric(text, "portwatch_policy_last_reload_ok"), 1)
        rc, out, err = self.ctl(self.pki, col["grpc_port"], "violations", "--severity",
                                "critical", prefix=self.in_ns)
        self.assertEqual(rc, 0, err)
        self.assertIn("custom-syncookies", out)
        rc, _, err = self.ctl(self.pki, col["grpc_port"], "violations", "--severity", "bad",
                              prefix=self.in_ns)
        self.assertEqual(rc, 2)
        self.assertIn("use info, warning or critical", err)


class AuditCommandTest(ProcessTestCase):
    """`portwatch-agent audit` on this (namespaced) Linux host, no collector."""

    def test_audit_reports_the_narrowed_range_and_exits_1(self):
        ns = self.netns()
        ns.sysctl("net.ipv4.ip_local_port_range", "50000 51000")
        agent = os.environ["PORTWATCH_AGENT"]
        r = subprocess.run([*ns.argv(), agent, "audit", "--json"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f'"rule": "{RULE}"', r.stdout)
        self.assertIn('"policy": "built-in default policy"', r.stdout)
        ns.sysctl("net.ipv4.ip_local_port_range", "32768 60999")
        r = subprocess.run([*ns.argv(), agent, "audit"], capture_output=True, text=True,
                           timeout=60)
        self.assertNotIn(RULE, r.stdout)
        # A given policy file is read (this build has yaml-cpp); a broken one names its line.
        bad = os.path.join(self.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("rules:\n  - id: x\n    title: t\n    severity: urgent\n")
        r = subprocess.run([agent, "audit", "--policy", bad], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.yaml line 4: rule 'x': severity 'urgent'", r.stderr)

"""The Linux agent against the real kernel: inside a network namespace made for the test, a known
mix of sockets is opened, and the agent's report is compared with ss(8) taken at the same moment:
state counts equal, the top destination and the top process correct. Then a collector and an
agent in the same namespace show the same in /metrics."""
import json
import os
import re
import subprocess
import sys
import unittest

from harness import AGENT, ProcessTestCase, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "e2e-linux"

# ss's state names -> the agent's.
SS_STATES = {"ESTAB": "established", "LISTEN": "listen", "TIME-WAIT": "time_wait",
             "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv", "FIN-WAIT-1": "fin_wait1",
             "FIN-WAIT-2": "fin_wait2", "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack",
             "CLOSING": "closing", "UNCONN": "bound"}


def ss_local_ports(text, low, high):
    ports = set()
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 4:
            port = int(f[3].rsplit(":", 1)[1])
            if low <= port <= high:
                ports.add(port)
    return ports


def ss_counts(text):
    counts = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if f:
            st = SS_STATES[f[0]]
            counts[st] = counts.get(st, 0) + 1
    return counts


class LinuxAgentTest(ProcessTestCase):
    def start_mix(self, ns, **kw):
        args = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
        p = self.start("mix", ns.argv(sys.executable, os.path.join(HERE, "socket_mix.py"), *args),
                       stdin=subprocess.PIPE)

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"socket_mix exited: {self.log_of('mix')}")
            m = re.search(r"^(\{.*\})$", self.log_of("mix"), re.M)
            return m and json.loads(m.group(1))
        return wait_for(ready, what="the socket mix")

    def test_snapshot_matches_ss(self):
        ns = self.netns()
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40199")
        mix = self.start_mix(ns, established=5, time_wait=3, bound=2, leak=40, syn_backlog=3)
        # Nothing else lives in this namespace, so the table is still between the two reads.
        snap = json.loads(ns.run(AGENT, "snapshot", "--json", "--top-k", "2").stdout)
        ss_text = ns.run("ss", "-tan").stdout.decode()
        ss = ss_counts(ss_text)

        agent = {}
        for fam in snap["states"].values():
            for st, n in fam.items():
                agent[st] = agent.get(st, 0) + n
        bound = agent.pop("bound", 0)
        ss.pop("bound", None)
        self.assertEqual(agent, ss, f"agent {agent} vs ss {ss}")
        self.assertEqual(ss["time_wait"], 3)
        self.assertEqual(ss["listen"], 3)
        # ss from iproute2 6.1 cannot show bound-only sockets; the agent does (Linux 6.7+).
        kernel = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
        if kernel >= (6, 7):
            self.assertEqual(bound, 2)

        eph = snap["ephemeral"]
        self.assertEqual((eph["low"], eph["high"], eph["usable"]), (40000, 40199, 200))
        # Every socket of the mix took its port from the namespace's small range. Linux lets
        # connect() reuse a local port toward different destinations, so the distinct ports are
        # counted independently from ss's table plus the bound sockets ss cannot show.
        expected = ss_local_ports(ss_text, 40000, 40199)
        if kernel >= (6, 7):
            expected |= set(mix["bound_ports"])
        self.assertEqual(eph["in_use"], len(expected))
        self.assertGreaterEqual(eph["in_use"], 40)  # the leaker's connections alone

        top_dest = snap["destinations"]["top"][0]
        self.assertEqual(top_dest["remote"], f"127.0.0.1:{mix['dest_port']}")
        self.assertEqual(top_dest["local_ports"], 40)
        self.assertAlmostEqual(top_dest["pressure"], 40 / 200)
        self.assertEqual(top_dest["states"], {"established": 40})
        # Three destinations (the main listener, the queued one, the leak's); accepted inbound
        # connections are not destinations although their listeners sit in the range. K=2: one
        # is folded into "other".
        self.assertEqual(len(snap["destinations"]["top"]), 2)
        self.assertEqual(snap["destinations"]["other_count"], 1)

        top_proc = snap["processes"]["top"][0]
        self.assertEqual(top_proc["pid"], mix["leaker_pid"])
        self.assertEqual(top_proc["ephemeral_ports"], 40)
        self.assertEqual(top_proc["name"], "pw-leaker")  # socket_mix names its leaker

        # The listener whose backlog of 8 holds 3 unaccepted connections comes first.
        first = snap["listeners"][0]
        self.assertEqual(first["local"], f"127.0.0.1:{mix['queue_port']}")
        self.assertEqual((first["accept_queue"], first["backlog"]), (3, 8))
        self.assertEqual(first["pid"], mix["pid"])

        cfg = snap["config"]["values"]
        self.assertEqual(cfg["net.ipv4.ip_local_port_range"], "40000 40199")
        self.assertIn("net.ipv4.tcp_fin_timeout", cfg)
        self.assertIn("TcpExt.ListenOverflows", snap["events"]["counters"])

    def test_collector_exposes_destinations_processes_settings(self):
        ns = self.netns()
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40199")
        pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST)
        mix = self.start_mix(ns, leak=25)
        ready = os.path.join(self.tmp, "ready.json")
        from harness import COLLECTOR
        self.start("collector", ns.argv(
            COLLECTOR, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/collector.pem",
            "--key", f"{pki}/collector.key", "--ready-file", ready,
            "--db", os.path.join(self.tmp, "collector.db")))
        def read_ready():
            if not os.path.exists(ready):
                return None
            with open(ready) as f:
                return json.load(f)
        info = wait_for(read_ready, what="collector ready")
        self.start("agent", ns.argv(
            AGENT, "run", "--collector", f"127.0.0.1:{info['grpc_port']}", "--ca",
            f"{pki}/ca.pem", "--cert", f"{pki}/agents/{HOST}.pem", "--key",
            f"{pki}/agents/{HOST}.key", "--host-name", HOST, "--interval", "200ms"))

        def scrape():
            r = ns.run("python3", "-c", "import urllib.request,sys;sys.stdout.write(urllib.request."
                       f"urlopen('http://127.0.0.1:{info['metrics_port']}/metrics').read().decode())")
            return r.stdout.decode()
        dest = f"127.0.0.1:{mix['dest_port']}"
        wait_for(lambda: self.metric(scrape(), "portwatch_host_destination_local_ports",
                                     host=HOST, destination=dest) == 25,
                 what="the leak's destination in /metrics")
        text = scrape()
        # Processes are series per program name (no pid label): the leaker names itself.
        self.assertEqual(self.metric(text, "portwatch_host_process_ephemeral_ports", host=HOST,
                                     process="pw-leaker"), 25)
        self.assertAlmostEqual(self.metric(text, "portwatch_host_destination_pressure_ratio",
                                           host=HOST, destination=dest), 25 / 200)
        self.assertEqual(self.metric(text, "portwatch_host_config_info", host=HOST,
                                     key="net.ipv4.ip_local_port_range"), 1)
        self.assertIn('value="40000 40199"', text)
        self.assertIsNotNone(self.metric(text, "portwatch_host_config_value", host=HOST,
                                         key="net.ipv4.tcp_fin_timeout"))
        self.assertIsNotNone(self.metric(text, "portwatch_host_events_total", host=HOST,
                                         event="Tcp.ActiveOpens"))
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())


if __name__ == "__main__":
    unittest.main()

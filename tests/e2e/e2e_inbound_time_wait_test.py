"""Server-side TIME_WAIT on the real kernel: a host that closes accepted connections first keeps
their TIME_WAIT on the listener's port, and all of its ephemeral range stays usable for outbound
connects. The agent counts that TIME_WAIT per listening port instead of as destinations, and
portwatchctl shows it on its own line, through a real collector."""
import json
import os
import re
import subprocess
import sys
import unittest

from harness import AGENT, ProcessTestCase, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "e2e-inbound"
LOW, HIGH = 40000, 40009   # ten ephemeral ports
LISTEN = 40009             # the server listens inside the range: it holds that one port itself
INBOUND = 50               # server-closed connections, five times the range


class InboundTimeWaitTest(ProcessTestCase):
    def test_server_time_wait_is_inbound_not_destination_pressure(self):
        ns = self.netns()
        ns.sysctl("net.ipv4.ip_local_port_range", f"{LOW} {HIGH}")
        ns.sysctl("net.ipv4.tcp_tw_reuse", "0")  # else loopback connects reuse TIME_WAIT ports
        mix_proc = self.start("mix", ns.argv(
            sys.executable, os.path.join(HERE, "inbound_mix.py"), "--listen-port", str(LISTEN),
            "--inbound", str(INBOUND)), stdin=subprocess.PIPE)

        def mix_ready():
            if mix_proc.poll() is not None:
                raise AssertionError(f"inbound_mix exited: {self.log_of('mix')}")
            m = re.search(r"^(\{.*\})$", self.log_of("mix"), re.M)
            return m and json.loads(m.group(1))
        mix = wait_for(mix_ready, what="the inbound mix")

        # The kernel's answer: fifty TIME_WAIT on the server's port did not take one ephemeral
        # port. Outbound connects got every port of the range but the listener's own, then
        # EADDRNOTAVAIL toward that destination once the client-side TIME_WAIT held them all.
        self.assertEqual(mix["outbound_connects"], HIGH - LOW, mix)
        self.assertEqual(mix["outbound_failure"], "EADDRNOTAVAIL", mix)
        ss = ns.run("ss", "-Htan", "state", "time-wait").stdout.decode().splitlines()
        server_tw = [l for l in ss if l.split()[2].endswith(f":{LISTEN}")]
        self.assertEqual(len(server_tw), INBOUND, ss)

        snap = json.loads(ns.run(AGENT, "snapshot", "--json").stdout)
        self.assertEqual(snap["inbound"]["time_wait"], INBOUND, snap["inbound"])
        self.assertEqual(snap["inbound"]["ports"],
                         [{"port": LISTEN, "states": {"time_wait": INBOUND}}])
        tw = sum(f.get("time_wait", 0) for f in snap["states"].values())
        self.assertEqual(tw, INBOUND + HIGH - LOW, "all TIME_WAIT is still in the state counts")
        # Ports held: the listener's and the nine client-side TIME_WAIT, nothing for inbound.
        self.assertEqual(snap["ephemeral"]["in_use"], HIGH - LOW + 1)
        dests = snap["destinations"]["top"]
        self.assertEqual([(d["remote"], d["local_ports"]) for d in dests],
                         [(f"127.0.0.1:{mix['dest_port']}", HIGH - LOW)], dests)
        self.assertEqual(snap["destinations"]["other_count"], 0)

        # Through a collector: the CLI names the inbound TIME_WAIT on its own line. The collector
        # listens on fixed ports outside the range (port 0 would take one of the ten); the agent
        # and portwatchctl connect from ports whose TIME_WAIT is toward another destination, so
        # the kernel lets them reuse those (the limit is per destination 4-tuple).
        pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST, operators=["portwatchctl"])
        col = self.start_collector(pki, listen="127.0.0.1:9443", metrics_listen="127.0.0.1:9444",
                                   prefix=ns.argv())
        self.start_agent(pki, HOST, col["grpc_port"], prefix=ns.argv())

        def shown():
            rc, out, err = self.ctl(pki, col["grpc_port"], "host", HOST, prefix=ns.argv())
            return rc == 0 and "inbound TIME_WAIT" in out and out
        out = wait_for(shown, what="portwatchctl host with the inbound line")
        self.assertIn(f"inbound TIME_WAIT: {INBOUND} on :{LISTEN} (", out)
        self.assertNotIn("127.0.0.1:200", out, "client ports are not destinations")
        mix_proc.stdin.close()


if __name__ == "__main__":
    unittest.main()

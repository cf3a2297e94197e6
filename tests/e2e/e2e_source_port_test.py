"""End to end: an agent keeps reporting from a host whose ephemeral ports are exhausted.

In a network namespace of its own (so the host is untouched) with a 16-port ephemeral range of
which 4 are reserved for the agent, the test holds every other port, breaks the agent's stream by
killing the collector, restarts it, and checks that the agent reconnects from a reserved port and
reports the exhaustion (ports in use == usable). Needs root and iproute2; skips with the reason
where a namespace cannot be created."""
import os
import subprocess
import sys

from harness import ProcessTestCase, db_rows, wait_for

HOST = "e2e-exhausted"
RANGE = (40000, 40015)
RESERVED = (40000, 40003)
USABLE = (RANGE[1] - RANGE[0] + 1) - (RESERVED[1] - RESERVED[0] + 1)
GRPC_PORT, METRICS_PORT, FILLER_PORT = 7443, 9464, 30000  # outside the range


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


class SourcePortTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        ns = self.netns()  # skips with the reason where a namespace cannot be made
        ns.sysctl("net.ipv4.ip_local_port_range", f"{RANGE[0]} {RANGE[1]}")
        ns.sysctl("net.ipv4.ip_local_reserved_ports", f"{RESERVED[0]}-{RESERVED[1]}")
        self.in_ns = tuple(ns.argv())
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST)
        self.db = os.path.join(self.tmp, "collector.db")

    def collector(self, name):
        return self.start_collector(self.pki, listen=f"127.0.0.1:{GRPC_PORT}", name=name,
                                    db=self.db, metrics_listen=f"127.0.0.1:{METRICS_PORT}",
                                    prefix=self.in_ns)

    def reports_since(self, received_ms):
        return db_rows(self.db, "SELECT ports_in_use, ports_usable FROM reports WHERE host = ? "
                                "AND received_ms > ? ORDER BY id", HOST, received_ms)

    def agent_connection_ports(self):
        """Local ports of the agent's established connections to the collector, from ss."""
        out = run(*self.in_ns, "ss", "-Htn", "state", "established",
                  "dport", f"= :{GRPC_PORT}").stdout
        return {int(line.split()[2].rsplit(":", 1)[1]) for line in out.splitlines() if line}

    def test_agent_reconnects_through_a_reserved_port_while_the_range_is_exhausted(self):
        col = self.collector("collector")
        spool = os.path.join(self.tmp, "spool")
        self.start_agent(self.pki, HOST, GRPC_PORT, prefix=self.in_ns,
                         extra=("--source-ports", f"{RESERVED[0]}-{RESERVED[1]}",
                                "--spool-dir", spool))
        wait_for(lambda: self.reports_since(0), what="the agent's first report")
        self.assertNotIn("warning", self.log_of("agent"))  # the ports are reserved: no warning
        reserved = set(range(RESERVED[0], RESERVED[1] + 1))
        ports = self.agent_connection_ports()
        self.assertTrue(ports and ports <= reserved, ports)

        # Hold every ephemeral port the kernel can hand out.
        log = open(os.path.join(self.tmp, "holder.log"), "w")
        holder = subprocess.Popen([*self.in_ns, sys.executable,
                                   os.path.join(os.path.dirname(__file__), "hold_ports.py"),
                                   str(FILLER_PORT), str(GRPC_PORT)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                  text=True)
        self.procs.append((holder, log))
        self.assertEqual(holder.stdout.readline().strip(), f"held {USABLE}")
        # Without a reserved port, nobody can connect to the collector any more.
        self.assertEqual(holder.stdout.readline().strip(), "probe EADDRNOTAVAIL")

        # Break the stream: the collector dies and comes back on the same port and database.
        col["proc"].kill()
        col["proc"].wait(timeout=10)
        down_ms = db_rows(self.db, "SELECT MAX(received_ms) FROM reports")[0][0]
        self.collector("collector2")
        exhausted = wait_for(
            lambda: [r for r in self.reports_since(down_ms) if r[0] == r[1] == USABLE],
            timeout=60, what=f"a report of {USABLE}/{USABLE} ports in use after the restart")
        self.assertTrue(exhausted)
        ports = self.agent_connection_ports()
        self.assertTrue(ports and ports <= reserved, ports)
        connects = [l for l in self.log_of("agent").splitlines()
                    if "connected to collector" in l]
        self.assertGreaterEqual(len(connects), 2, connects)
        self.assertRegex(connects[-1], r"from source port 4000[0-3]\b")



if __name__ == "__main__":
    import unittest
    unittest.main()

"""End to end: a real collector and a real agent on 127.0.0.1 with certificates from
deploy/pki/make-dev-pki.sh. The test opens known sockets and checks /metrics reflects them;
clients without a proper certificate are refused and leave no trace in the metrics."""
import os
import platform
import shutil
import socket
import struct
import subprocess
import unittest

from harness import PROBE, ProcessTestCase, parse_metrics, wait_for

HOST = "e2e-host"


def kernel_at_least(major, minor):
    m = platform.release().split(".")
    return (int(m[0]), int(m[1].split("-")[0])) >= (major, minor)


class SocketMix:
    """LISTEN, ESTABLISHED (both ends), TIME_WAIT and bound-only sockets on loopback."""

    def __init__(self, established=5, time_wait=3, bound=2):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        port = self.listener.getsockname()[1]
        self.pairs = []
        for _ in range(established):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = self.listener.accept()
            self.pairs.append((c, s))
        for _ in range(time_wait):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = self.listener.accept()
            c.close()  # active close: the client end stays in TIME_WAIT
            s.close()
        self.bound = []
        for _ in range(bound):
            b = socket.socket()
            b.bind(("127.0.0.1", 0))  # bound, never connected: holds an ephemeral port
            self.bound.append(b)

    def reset_pairs(self):
        """Closes the established pairs with RST (no TIME_WAIT left behind)."""
        for c, s in self.pairs:
            for x in (c, s):
                x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                x.close()
        self.pairs = []

    def close(self):
        self.reset_pairs()
        for b in self.bound:
            b.close()
        self.listener.close()


class WalkingSkeletonTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST, "e2e-other")

    def host_value(self, port, name, **labels):
        return self.metric(self.scrape(port), name, host=HOST, **labels)

    def test_agent_reports_sockets_it_sees(self):
        col = self.start_collector(self.pki)
        mport = col["metrics_port"]
        mix = SocketMix(established=5, time_wait=3, bound=2)
        self.addCleanup(mix.close)
        self.start_agent(self.pki, HOST, col["grpc_port"])

        def sockets(state):  # IPv4 only: the detail series this lone host gets
            return self.host_value(mport, "portwatch_host_sockets_by_family", family="ipv4",
                                   state=state) or 0

        # Every count is at least what this test holds open (the host may have more).
        wait_for(lambda: (sockets("established") or 0) >= 10, what="10 established sockets")
        self.assertGreaterEqual(sockets("listen"), 1)
        wait_for(lambda: (sockets("time_wait") or 0) >= 3, what="3 TIME_WAIT sockets")
        if kernel_at_least(6, 7):  # sock_diag dumps bound-only sockets from Linux 6.7 on
            wait_for(lambda: (sockets("bound") or 0) >= 2, what="2 bound-only sockets")
        # Client ends, TIME_WAITs and bound sockets each hold a distinct ephemeral port.
        in_use = self.host_value(mport, "portwatch_host_ephemeral_ports_in_use")
        self.assertGreaterEqual(in_use, 5 + 3 + (2 if kernel_at_least(6, 7) else 0))
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
        self.assertEqual(self.host_value(mport, "portwatch_host_ephemeral_range_low"), low)
        self.assertEqual(self.host_value(mport, "portwatch_host_ephemeral_range_high"), high)
        usable = self.host_value(mport, "portwatch_host_ephemeral_ports_usable")
        self.assertLessEqual(usable, high - low + 1)
        self.assertAlmostEqual(
            self.host_value(mport, "portwatch_host_ephemeral_port_utilization_ratio"),
            in_use / usable, places=3)

        # The counts follow the table: reset the pairs and established drops by at least 10.
        before = sockets("established")
        mix.reset_pairs()
        wait_for(lambda: sockets("established") <= before - 10,
                 what=f"established to drop from {before} by 10")

        # The exposition is clean for Prometheus.
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool is needed (apt-get install prometheus)")
        r = subprocess.run([promtool, "check", "metrics"], input=self.scrape(mport).encode(),
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        self.assertEqual(self.metric(self.scrape(mport), "portwatch_ingest_streams"), 1)

    def probe(self, grpc_port, *args):
        r = subprocess.run([PROBE, "--target", f"127.0.0.1:{grpc_port}", *args],
                           capture_output=True, timeout=30)
        return r.returncode, r.stdout.decode().strip()

    def test_clients_without_fleet_certificate_are_refused(self):
        col = self.start_collector(self.pki)
        port, mport = col["grpc_port"], col["metrics_port"]
        rogue = self.make_pki(os.path.join(self.tmp, "rogue"), "intruder")

        # No client certificate at all: the TLS handshake fails, nothing reaches the service.
        rc, out = self.probe(port, "--ca", f"{self.pki}/ca.pem", "--hostname", "intruder")
        self.assertNotEqual(rc, 0)
        self.assertTrue(out.startswith("error 14:"), out)  # UNAVAILABLE

        # A certificate from another CA: refused the same way.
        rc, out = self.probe(port, "--ca", f"{self.pki}/ca.pem", "--hostname", "intruder",
                             "--cert", f"{rogue}/agents/intruder.pem",
                             "--key", f"{rogue}/agents/intruder.key")
        self.assertNotEqual(rc, 0)
        self.assertTrue(out.startswith("error 14:"), out)

        # A valid fleet certificate for e2e-other claiming to be e2e-host: PERMISSION_DENIED.
        rc, out = self.probe(port, "--ca", f"{self.pki}/ca.pem", "--hostname", HOST,
                             "--cert", f"{self.pki}/agents/e2e-other.pem",
                             "--key", f"{self.pki}/agents/e2e-other.key")
        self.assertNotEqual(rc, 0)
        self.assertTrue(out.startswith("error 7:"), out)
        self.assertIn("certificate is for host 'e2e-other'", out)

        # A report no host can produce is refused with its reason, and acknowledged as refused.
        rc, out = self.probe(port, "--ca", f"{self.pki}/ca.pem", "--hostname", "e2e-other",
                             "--cert", f"{self.pki}/agents/e2e-other.pem",
                             "--key", f"{self.pki}/agents/e2e-other.key", "--absurd")
        self.assertEqual(rc, 1)
        self.assertIn("rejected 1: ephemeral ports in use 5000 exceed the range size 100", out)

        # The good probe path works, so the refusals above are not a broken probe.
        rc, out = self.probe(port, "--ca", f"{self.pki}/ca.pem", "--hostname", "e2e-other",
                             "--cert", f"{self.pki}/agents/e2e-other.pem",
                             "--key", f"{self.pki}/agents/e2e-other.key")
        self.assertEqual((rc, out), (0, "acked 1"))
        # The ack goes out once stored; fleet state (and so /metrics) follows just after.
        wait_for(lambda: self.metric(self.scrape(mport), "portwatch_host_reports_total",
                                     host="e2e-other") == 1, what="e2e-other's stored report")

        text = self.scrape(mport)
        hosts = {l.get("host") for _, l, _ in parse_metrics(text) if "host" in l}
        self.assertNotIn("intruder", hosts)
        self.assertNotIn(HOST, hosts)  # the impostor's claim left nothing behind
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="host_mismatch"), 1)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="invalid_report"), 1)
        # e2e-other: one stored report (the good one), one refused.
        self.assertEqual(self.metric(text, "portwatch_host_reports_total", host="e2e-other"), 1)
        log = self.log_of("collector")
        self.assertIn("refused (host_mismatch)", log)
        self.assertIn("refused (invalid_report)", log)

    def test_agent_reconnects_after_collector_restart(self):
        col = self.start_collector(self.pki)
        port = col["grpc_port"]
        self.start_agent(self.pki, HOST, port)
        wait_for(lambda: self.host_value(col["metrics_port"], "portwatch_host_reports_total"),
                 what="first report")
        self.assertEqual(self.stop(col["proc"]), 0)
        # Same gRPC port, new process: the agent's backoff loop must find it again.
        col2 = self.start_collector(self.pki, listen=f"127.0.0.1:{port}", name="collector2")
        wait_for(lambda: (self.host_value(col2["metrics_port"],
                                          "portwatch_host_reports_total") or 0) >= 2,
                 timeout=30, what="reports after the collector came back")
        self.assertIn("will retry", self.log_of("agent"))

    def test_bad_configuration_fails_fast_with_a_clear_message(self):
        pki = self.pki
        cases = [
            (["--ca", f"{pki}/missing.pem", "--cert", f"{pki}/collector.pem",
              "--key", f"{pki}/collector.key"], "cannot open CA certificate"),
            (["--ca", f"{pki}/ca.pem", "--cert", f"{pki}/collector.pem",
              "--key", f"{pki}/agents/{HOST}.key"], "does not belong to certificate"),
            (["--ca", f"{pki}/ca.pem", "--cert", f"{pki}/collector.pem",
              "--key", f"{pki}/collector.key", "--listen", "nonsense"], "must look like HOST:PORT"),
        ]
        from harness import COLLECTOR
        db = os.path.join(self.tmp, "untouched.db")
        for args, expect in cases:
            r = subprocess.run([COLLECTOR, "--metrics-listen", "127.0.0.1:0", "--db", db, *args],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(expect, r.stderr.decode(), args)
        # A metrics port already taken.
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        r = subprocess.run([COLLECTOR, "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/collector.pem",
                            "--key", f"{pki}/collector.key", "--listen", "127.0.0.1:0",
                            "--metrics-listen", f"127.0.0.1:{taken.getsockname()[1]}",
                            "--db", db],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot serve metrics", r.stderr.decode())
        # Configuration errors stop the collector before it creates or changes any state.
        self.assertFalse(os.path.exists(db))


if __name__ == "__main__":
    unittest.main()

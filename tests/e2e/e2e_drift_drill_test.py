"""The exhaustion drill, end to end and real. In a network namespace with a 300-port ephemeral
range, a process leaks outbound connections to a local server at a steady rate until connect()
fails with EADDRNOTAVAIL, while an agent (1 s interval) reports to a collector whose analysis runs
on compressed time (--analysis-time-scale: an hour of the default thresholds is a minute). In a
second namespace a control process churns connections (open, close, TIME_WAIT) without leaking.

Asserted: the leaking host turns drifting well before the first failed connect, with an ETA
within 30% of the real time left at that moment; portwatchctl names the leaking process and the
destination; the host is exhausted or critical at the failure; the control host never drifts."""
import json
import os
import subprocess
import sys
import time
import unittest

from harness import AGENT, COLLECTOR, CTL, ProcessTestCase, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SCALE = str(1.0 / 60)


class DriftDrillTest(ProcessTestCase):
    def start_site(self, name, mode, rate):
        """A namespace with a collector, an agent, a server and a leak or churn client."""
        ns = self.netns()
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40299")
        ready = os.path.join(self.tmp, f"{name}-ready.json")
        self.start(f"{name}-collector", ns.argv(
            COLLECTOR, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--ca", f"{self.pki}/ca.pem", "--cert", f"{self.pki}/collector.pem",
            "--key", f"{self.pki}/collector.key", "--ready-file", ready,
            "--db", os.path.join(self.tmp, f"{name}.db"),
            "--analysis-time-scale", SCALE, "--query-clients", "portwatchctl"))

        def read_ready():
            if not os.path.exists(ready):
                return None
            with open(ready) as f:
                return json.load(f)
        info = wait_for(read_ready, what=f"{name} collector ready")
        # The agent's own connection must not compete for the 300 ports it watches.
        ns.sysctl("net.ipv4.ip_local_reserved_ports", "40299")
        self.start(f"{name}-agent", ns.argv(
            AGENT, "run", "--collector", f"127.0.0.1:{info['grpc_port']}", "--ca",
            f"{self.pki}/ca.pem", "--cert", f"{self.pki}/agents/{name}.pem", "--key",
            f"{self.pki}/agents/{name}.key", "--host-name", name, "--interval", "1s",
            "--source-ports", "40299"))
        port_file = os.path.join(self.tmp, f"{name}-server.port")
        self.start(f"{name}-server", ns.argv(sys.executable, os.path.join(HERE, "leaker.py"),
                                             "--serve", port_file))
        port = wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(),
                        what=f"{name} server port")
        # Let the agent settle a baseline before the load starts.
        wait_for(lambda: self.ctl_json(ns, info, "host", name, check=False) is not None,
                 what=f"{name} known to its collector")
        self.start(f"{name}-load", ns.argv(sys.executable, os.path.join(HERE, "leaker.py"),
                                           "--target", f"127.0.0.1:{port}", "--mode", mode,
                                           "--rate", str(rate)))
        return ns, info, f"127.0.0.1:{port}"

    def ctl_json(self, ns, info, *args, check=True):
        rc, out, err = self.ctl(self.pki, info["grpc_port"], "--json", *args,
                                prefix=ns.argv())
        if rc != 0:
            if check:
                raise AssertionError(err)
            return None
        return json.loads(out or "{}")

    def test_leak_is_forecast_before_exhaustion_and_churn_is_not(self):
        if not CTL or not os.path.exists(CTL):
            self.fail("PORTWATCH_CTL is not set; run this test through ctest")
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), "leaky", "steady",
                                 operators=["portwatchctl"])
        leak_ns, leak_info, dest = self.start_site("leaky", "leak", 1.0)
        ctl_ns, ctl_info, _ = self.start_site("steady", "churn", 1.0)

        first_drift = None   # (monotonic time, unix ms, eta seconds, info)
        control_states = set()
        exhausted_at = None

        def exhausted_line():
            for line in self.log_of("leaky-load").splitlines():
                if '"exhausted"' in line:
                    return json.loads(line)
            return None

        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            info = self.ctl_json(leak_ns, leak_info, "host", "leaky")["info"]
            steady = self.ctl_json(ctl_ns, ctl_info, "host", "steady")["info"]
            control_states.add(steady["state"])
            if first_drift is None and info["state"] in ("HOST_STATE_DRIFTING",
                                                         "HOST_STATE_CRITICAL",
                                                         "HOST_STATE_EXHAUSTED"):
                first_drift = (time.time() * 1000, info)
            ex = exhausted_line()
            if ex and exhausted_at is None:
                exhausted_at = ex["unix_ms"]
            if exhausted_at is not None and info["state"] in ("HOST_STATE_EXHAUSTED",
                                                              "HOST_STATE_CRITICAL"):
                final = info
                break
            time.sleep(1)  # polling interval of the observer, not a synchronisation
        else:
            raise AssertionError(f"drill did not finish: first drift {first_drift}, "
                                 f"exhausted at {exhausted_at}")

        self.assertIsNotNone(first_drift, "the leak was never flagged before exhaustion")
        t_drift, drift_info = first_drift
        self.assertEqual(drift_info["state"], "HOST_STATE_DRIFTING",
                         f"first flagged state should be drifting: {drift_info}")
        left = (exhausted_at - t_drift) / 1000
        self.assertGreater(left, 30, f"flagged only {left:.0f} s before exhaustion")
        eta = drift_info["forecast"]["eta_seconds"]
        self.assertLess(abs(eta - left) / left, 0.30,
                        f"ETA {eta:.0f} s at first drift vs {left:.0f} s real")
        # Named: the process and the destination driving it.
        self.assertIn("python", drift_info.get("driver_process", "") + final.get("driver_process", ""))
        detail = self.ctl_json(leak_ns, leak_info, "host", "leaky")
        dests = [d["key"] for d in detail.get("destinations", [])]
        self.assertIn(dest, dests)
        self.assertIn(dest, final.get("driver_destination", "") + final.get("explanation", ""))
        # The control host churned the whole time and never looked like a leak.
        self.assertEqual(control_states, {"HOST_STATE_OK"}, control_states)
        print(f"\ndrill: drifting {left:.0f} s before exhaustion, ETA then {eta:.0f} s; "
              f"final: {final['explanation']}")


if __name__ == "__main__":
    unittest.main()

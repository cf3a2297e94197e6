"""The query API and portwatchctl against a real collector and agent: operators may ask, agents
may not; an unknown host is a clear error; tables and JSON list the host with its drift state;
state metrics are exported; and the drift history survives a collector restart."""
import json
import os
import re
import signal

from harness import CTL, ProcessTestCase, wait_for

HOST = "q-host"


class QueryTest(ProcessTestCase):
    def test_portwatchctl_and_restart(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST, operators=["portwatchctl"])
        db = os.path.join(self.tmp, "collector.db")
        col = self.start_collector(pki, db=db)
        port = col["grpc_port"]
        self.start_agent(pki, HOST, port)

        def listed():
            rc, out, _ = self.ctl(pki, port, "--json", "hosts")
            hosts = json.loads(out).get("hosts", []) if rc == 0 else []
            return next((h for h in hosts if h["host"] == HOST), None)
        h = wait_for(listed, what="the host in portwatchctl hosts")
        self.assertEqual(h["state"], "HOST_STATE_OK")
        self.assertGreater(h["ports_usable"], 0)
        self.assertEqual(h["os"], "OS_KIND_LINUX")

        rc, out, _ = self.ctl(pki, port, "hosts")
        self.assertEqual(rc, 0)
        self.assertRegex(out, rf"(?m)^{HOST}\s+ok\s")
        self.assertIn("(1 of 1 hosts)", out)
        rc, out, _ = self.ctl(pki, port, "host", HOST)
        self.assertEqual(rc, 0)
        self.assertIn(f"{HOST}:", out)  # the explanation line leads
        self.assertIn("SETTINGS", out)
        self.assertIn("net.ipv4.ip_local_port_range", out)
        rc, out, _ = self.ctl(pki, port, "--json", "top")
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out).get("hosts", []), [])  # nothing is drifting
        for cmd in ("destinations", "processes"):
            rc, out, err = self.ctl(pki, port, "--json", cmd)
            self.assertEqual(rc, 0, err)
            json.loads(out)

        # --watch with --count: that many refreshes, then the last one's exit status.
        rc, out, err = self.ctl(pki, port, "--watch", "1", "--count", "2", "top")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.count("DRIVER / REASON"), 2, out)  # one table header per refresh
        rc, _, err = self.ctl(pki, port, "--count", "2", "hosts")
        self.assertEqual(rc, 2)
        self.assertIn("--count needs --watch N", err)
        # Without --count it refreshes until stopped: two refreshes seen, then stopped by PID.
        watch = self.start("watch", [CTL, "--collector", f"127.0.0.1:{port}", "--ca",
                                     f"{pki}/ca.pem", "--cert", f"{pki}/operators/portwatchctl.pem",
                                     "--key", f"{pki}/operators/portwatchctl.key", "--watch", "1",
                                     "hosts"])
        wait_for(lambda: self.log_of("watch").count("(1 of 1 hosts)") >= 2,
                 what="two refreshes of portwatchctl --watch")
        self.assertIsNone(watch.poll(), "--watch without --count keeps running")
        self.assertEqual(self.stop(watch), -signal.SIGTERM)

        # An agent's certificate is valid for the fleet but may not read it.
        rc, _, err = self.ctl(pki, port, "hosts", cert=f"agents/{HOST}")
        self.assertEqual(rc, 2)
        self.assertIn(f"certificate '{HOST}' may not query", err)
        self.assertIn("--operator", err)
        # A host nobody has heard of.
        rc, _, err = self.ctl(pki, port, "host", "no-such-host")
        self.assertEqual(rc, 2)
        self.assertIn("no host 'no-such-host'", err)
        rc, _, err = self.ctl(pki, port, "hosts", "--state", "sideways")
        self.assertEqual(rc, 2)
        self.assertIn("is not a state", err)

        text = self.scrape(col["metrics_port"])
        self.assertEqual(self.metric(text, "portwatch_host_state", host=HOST, state="ok"), 1)
        # One state series per host: the others are absent, not 0.
        self.assertIsNone(self.metric(text, "portwatch_host_state", host=HOST, state="drifting"))
        self.assertEqual(self.metric(text, "portwatch_fleet_hosts_by_state", state="ok"), 1)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="query_not_allowed"), 1)

        # Restart on the same database: history is replayed into the analysis.
        self.assertEqual(self.stop(col["proc"]), 0)
        col2 = self.start_collector(pki, db=db, name="collector2",
                                    listen=f"127.0.0.1:{port}")
        m = re.search(r"(\d+) hosts restored, (\d+) reports replayed", self.log_of("collector2"))
        self.assertIsNotNone(m, self.log_of("collector2"))
        self.assertEqual(int(m.group(1)), 1)
        self.assertGreater(int(m.group(2)), 0)
        rc, out, err = self.ctl(pki, col2["grpc_port"], "--json", "host", HOST)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["info"]["host"], HOST)


if __name__ == "__main__":
    import unittest
    unittest.main()

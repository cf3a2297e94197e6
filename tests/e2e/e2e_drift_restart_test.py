"""Drift analysis across a collector restart: a host's settings are back at once.

Agents send their settings (ConfigSnapshot) when they start, on change and hourly, so after a
collector restart the reports the analysis replays, and the live ones that follow, usually carry
none. The analysis must still know each host's settings from the first moment, or its TIME_WAIT
duration falls back to a guess (120 s, "assumed") until the agent's next snapshot.

A real collector on compressed analysis time (its replay span is 17 s) and two real agents on
loopback: `kept` runs throughout, so its history in the replay span holds no settings; `paused` is
stopped (SIGSTOP) before the span, so nothing of it is replayed and its first live report after
the restart has no settings either. After the restart both must read T_tw = 60 s "Linux (fixed)"
immediately, and the policy audit must have each host's settings too."""
import json
import os
import signal
import time

from harness import CTL, ProcessTestCase, db_rows, wait_for

SCALE = 1e-4            # the analysis' host window (48 h) becomes 17.28 s
SPAN_MS = 1440 * 120_000 * SCALE


class DriftRestartTest(ProcessTestCase):
    def host(self, col, name):
        rc, out, err = self.ctl(self.pki, col["grpc_port"], "--json", "host", name)
        return json.loads(out)["info"] if rc == 0 else None

    def collector(self, name, listen="127.0.0.1:0"):
        return self.start_collector(self.pki, listen=listen, name=name, db=self.db, extra=(
            "--analysis-time-scale", str(SCALE), "--silent-after", "48h",
            "--query-clients", "portwatchctl"))

    def test_settings_are_known_to_the_analysis_at_once_after_a_restart(self):
        if not CTL or not os.path.exists(CTL):
            self.fail("PORTWATCH_CTL is not set; run this test through ctest")
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), "kept", "paused",
                                 operators=["portwatchctl"])
        self.db = os.path.join(self.tmp, "collector.db")
        col = self.collector("collector1")
        port = col["grpc_port"]
        agents = {h: self.start_agent(self.pki, h, port, interval="200ms", name=f"agent-{h}")
                  for h in ("kept", "paused")}
        for h in agents:
            info = wait_for(lambda: (i := self.host(col, h)) and i.get("time_wait_source") and i,
                            what=f"{h} analysed with its settings")
            self.assertEqual(info["time_wait_source"], "Linux (fixed)", info)

        def config_received(h):
            rows = db_rows(self.db, "SELECT max(received_ms) FROM reports WHERE host = ? AND "
                           "has_config", h)
            return rows[0][0]
        # Each agent sent its settings once, at its start.
        settings_ms = {h: config_received(h) for h in agents}
        self.assertTrue(all(settings_ms.values()), settings_ms)
        os.kill(agents["paused"].pid, signal.SIGSTOP)
        self.addCleanup(lambda: agents["paused"].poll() is None and
                        os.kill(agents["paused"].pid, signal.SIGCONT))
        paused_last = db_rows(self.db, "SELECT max(received_ms) FROM reports WHERE host = ?",
                              "paused")[0][0]

        # Until the settings report of `kept`, and every report of `paused`, are older than the
        # span the restarted collector will replay.
        def out_of_span():
            newest = db_rows(self.db, "SELECT max(received_ms) FROM reports WHERE host = ?",
                             "kept")[0][0]
            return (newest - settings_ms["kept"] > SPAN_MS + 3000
                    and time.time() * 1000 - paused_last > SPAN_MS + 3000)
        wait_for(out_of_span, timeout=60, what="the settings reports to leave the replay span",
                 interval=0.5)
        self.assertEqual(config_received("kept"), settings_ms["kept"],
                         "the agent sent its settings again: the test would prove nothing")

        self.assertEqual(self.stop(col["proc"]), 0)
        col = self.collector("collector2", listen=f"127.0.0.1:{port}")
        log = self.log_of("collector2")
        self.assertIn("2 hosts restored", log)
        # Right after the restart, before the agent of `kept` sent anything new.
        kept = self.host(col, "kept")
        self.assertEqual((kept["time_wait_seconds"], kept["time_wait_source"]),
                         (60, "Linux (fixed)"), kept)
        # `paused` was not replayed (nothing of it is in the span): its first live report.
        os.kill(agents["paused"].pid, signal.SIGCONT)
        restart_ms = time.time() * 1000
        paused = wait_for(lambda: (i := self.host(col, "paused"))
                          and int(i.get("last_seen_unix_ms", 0)) > restart_ms and i,
                          what="a report of paused after the restart", timeout=40)
        self.assertEqual((paused["time_wait_seconds"], paused["time_wait_source"]),
                         (60, "Linux (fixed)"), paused)
        kept = wait_for(lambda: (i := self.host(col, "kept"))
                        and int(i.get("last_seen_unix_ms", 0)) > restart_ms and i,
                        what="a report of kept after the restart", timeout=40)
        self.assertEqual(kept["time_wait_source"], "Linux (fixed)", kept)
        # No snapshot arrived since: what the analysis knows came from the store.
        for h in agents:
            self.assertEqual(config_received(h), settings_ms[h], h)
        # The policy audit has the settings too: the host detail carries the restored snapshot.
        rc, out, err = self.ctl(self.pki, col["grpc_port"], "--json", "host", "paused")
        self.assertEqual(rc, 0, err)
        keys = {v["key"] for v in json.loads(out).get("config", {}).get("values", [])}
        self.assertIn("net.ipv4.ip_local_port_range", keys)


if __name__ == "__main__":
    import unittest
    unittest.main()

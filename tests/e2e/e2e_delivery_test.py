"""End to end: no report is lost or stored twice when the collector or the agent dies.

Real collector and agents on 127.0.0.1 with dev certificates; the collector's SQLite database is
read directly (read-only) to check what arrived, and the agents' spools with spool_format."""
import json
import os
import shutil
import subprocess

from harness import AGENT, COLLECTOR, ProcessTestCase, db_rows as rows, wait_for
import spool_format

HOSTS = ("e2e-a", "e2e-b")


def stored(db, host):
    """{instance: [sequence, ...]} of the host's stored reports, each list sorted."""
    if not os.path.exists(db):
        return {}
    out = {}
    for inst, seq in rows(db, "SELECT instance_id, sequence FROM reports WHERE host = ? "
                              "ORDER BY instance_id, sequence", host):
        out.setdefault(inst, []).append(seq)
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class DeliveryTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), *HOSTS,
                                 operators=("portwatchctl",))
        self.db = os.path.join(self.tmp, "collector.db")

    def agent(self, host, port, name=None, interval="100ms", extra=()):
        name = name or host
        spool = os.path.join(self.tmp, f"spool-{host}")
        p = self.start_agent(self.pki, host, port, interval=interval, name=name,
                             extra=("--spool-dir", spool, *extra))
        return p, spool

    def kill9(self, p):
        p.kill()
        p.wait(timeout=10)

    def down_port(self):
        """A gRPC port with nothing listening: a collector started once and stopped, so a later
        collector can come back on the same port."""
        col = self.start_collector(self.pki, name="first", db=self.db)
        self.assertEqual(self.stop(col["proc"]), 0)
        return col["grpc_port"]

    def waiting(self, spool):
        return spool_format.waiting_reports(spool)

    def test_collector_killed_mid_stream_loses_and_doubles_nothing(self):
        col = self.start_collector(self.pki, db=self.db)
        port = col["grpc_port"]
        agents = {h: self.agent(h, port) for h in HOSTS}
        for h in HOSTS:
            wait_for(lambda h=h: sum(map(len, stored(self.db, h).values())) >= 20,
                     what=f"20 reports of {h} stored")

        # Mid-stream: the agents are sending every 100 ms when the collector dies.
        self.kill9(col["proc"])
        down_at_ms = max(r[0] for r in rows(self.db, "SELECT MAX(received_ms) FROM reports"))
        for h in HOSTS:
            wait_for(lambda h=h: len(self.waiting(agents[h][1])) >= 15,
                     what=f"{h} to spool 15 reports while the collector is down")
        spooled_max = {h: max(r["seq"] for r in self.waiting(agents[h][1])) for h in HOSTS}

        col = self.start_collector(self.pki, listen=f"127.0.0.1:{port}", name="collector2",
                                   db=self.db)
        for h in HOSTS:
            wait_for(lambda h=h: max(sum(stored(self.db, h).values(), [0])) > spooled_max[h],
                     timeout=30, what=f"{h}'s spooled reports to arrive after the restart")
        for h, (p, _) in agents.items():
            self.assertEqual(self.stop(p), 0)
        self.assertEqual(self.stop(col["proc"]), 0)

        for h in HOSTS:
            per_instance = stored(self.db, h)
            self.assertEqual(len(per_instance), 1, per_instance.keys())
            seqs = next(iter(per_instance.values()))
            left = [r["seq"] for r in self.waiting(agents[h][1])]
            # Stored once each, contiguous from 1; what was not acknowledged before the agent
            # stopped is still in its spool (a report whose ack was cut off may be in both, and
            # would be recognised as a duplicate next time): together, every report made.
            self.assertEqual(len(seqs), len(set(seqs)))
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), f"{h}: gaps in {seqs}")
            made = max(seqs + left)
            self.assertEqual(set(seqs) | set(left), set(range(1, made + 1)),
                             f"{h}: spool after stop {left}")
            made_while_down = rows(self.db, "SELECT COUNT(*) FROM reports WHERE host = ? AND "
                                            "collected_ms > ?", h, down_at_ms)[0][0]
            self.assertGreaterEqual(made_while_down, 15)

        # A restart keeps the fleet: both hosts listed with their stored totals, and silent
        # once nobody reports.
        col = self.start_collector(self.pki, name="collector3", db=self.db,
                                   extra=("--silent-after", "1s"))
        for h in HOSTS:
            total = rows(self.db, "SELECT COUNT(*) FROM reports WHERE host = ?", h)[0][0]
            wait_for(lambda h=h: self.metric(self.scrape(col["metrics_port"]),
                                             "portwatch_host_state", host=h, state="silent") == 1,
                     what=f"{h} to be listed as silent")
            text = self.scrape(col["metrics_port"])
            self.assertEqual(self.metric(text, "portwatch_host_reports_total", host=h), total)
            # Settings come only now and then; the stored ones are back without a new report
            # (in the query API: a silent host's metrics keep the summary tier only).
            rc, out, err = self.ctl(self.pki, col["grpc_port"], "--json", "host", h)
            self.assertEqual(rc, 0, err)
            keys = {v["key"] for v in json.loads(out)["config"]["values"]}
            self.assertIn("net.ipv4.tcp_fin_timeout", keys)
        self.assertIn("2 hosts restored", self.log_of("collector3"))

    def test_agent_killed_with_a_full_spool_replays_it_after_restart(self):
        col = self.start_collector(self.pki, db=self.db)
        port = col["grpc_port"]
        p, spool = self.agent(HOSTS[0], port)
        wait_for(lambda: stored(self.db, HOSTS[0]), what="first reports stored")
        self.assertEqual(self.stop(col["proc"]), 0)
        wait_for(lambda: len(self.waiting(spool)) >= 20, what="20 reports spooled")
        self.kill9(p)
        before = self.waiting(spool)
        first_instance = before[0]["instance"]
        # A report stored just before the collector stopped may also be in the spool (its ack
        # was cut off): it must arrive once all the same.
        expected_first = sorted(set(sum(stored(self.db, HOSTS[0]).values(), []) +
                                    [r["seq"] for r in before]))

        # The agent comes back first (new instance), keeps spooling, then the collector.
        p, spool = self.agent(HOSTS[0], port, name="agent2")
        wait_for(lambda: len({r["instance"] for r in self.waiting(spool)}) == 2,
                 what="the new instance to spool behind the old one")
        self.assertIn(f"holds {len(before)} unacknowledged reports (instances {first_instance})",
                      self.log_of("agent2"))
        col = self.start_collector(self.pki, listen=f"127.0.0.1:{port}", name="collector2",
                                   db=self.db)

        def delivered():
            s = stored(self.db, HOSTS[0])
            return len(s) == 2 and len(s[first_instance]) >= len(expected_first) and s
        per_instance = wait_for(delivered, timeout=30, what="both instances' reports stored")
        self.assertEqual(per_instance[first_instance], expected_first)
        self.assertEqual(per_instance[first_instance],
                         list(range(1, len(per_instance[first_instance]) + 1)))
        second = [i for i in per_instance if i != first_instance][0]
        self.assertEqual(per_instance[second], list(range(1, len(per_instance[second]) + 1)))
        # One row per (instance, sequence): nothing doubled.
        dup = rows(self.db, "SELECT COUNT(*) - COUNT(DISTINCT instance_id || '/' || sequence) "
                            "FROM reports")[0][0]
        self.assertEqual(dup, 0)

    def test_collector_down_longer_than_the_spool_bound(self):
        port = self.down_port()
        bound = 16 * 1024
        p, spool = self.agent(HOSTS[0], port, extra=("--spool-max-bytes", "16KiB"))

        def dropping():
            waiting = self.waiting(spool)
            self.assertLessEqual(spool_format.size_on_disk(spool), bound)
            return waiting and waiting[0]["seq"] > 1 and waiting
        waiting = wait_for(dropping, timeout=60, what="the spool to drop its oldest reports")
        capacity = len(waiting)
        rss_start = rss_kib(p.pid)
        newest = waiting[-1]["seq"]
        # A whole spool's worth more, all while the collector is still down.
        wait_for(lambda: max([r["seq"] for r in self.waiting(spool)], default=0)
                 > newest + capacity and spool_format.size_on_disk(spool) <= bound,
                 timeout=90, what="another spool's worth of reports")
        rss_end = rss_kib(p.pid)
        print(f"agent RSS {rss_start} KiB when drops began, {rss_end} KiB after another "
              f"{capacity} reports (spool bound {bound} bytes)")
        self.assertLess(rss_end - rss_start, 2048,
                        f"agent RSS grew from {rss_start} to {rss_end} KiB with a bounded spool")
        self.assertIn("oldest unacknowledged reports", self.log_of(HOSTS[0]))

        col = self.start_collector(self.pki, listen=f"127.0.0.1:{port}", name="collector2",
                                   db=self.db)

        def drops_reported():
            seqs = sum(stored(self.db, HOSTS[0]).values(), [])
            if not seqs:
                return False
            dropped = self.metric(self.scrape(col["metrics_port"]),
                                  "portwatch_host_agent_reports_dropped_total", host=HOSTS[0])
            # Everything before the first stored report was dropped, and the count says so.
            return dropped == min(seqs) - 1 and (dropped, seqs)
        dropped, seqs = wait_for(drops_reported, timeout=30, what="the drop count to arrive")
        self.assertGreater(dropped, capacity)
        self.assertEqual(seqs, list(range(min(seqs), max(seqs) + 1)))

    def test_damaged_spool_is_skipped_and_the_rest_delivered(self):
        port = self.down_port()
        # 16 KiB: 4 KiB segments, so three fill in seconds; nothing is dropped before four.
        p, spool = self.agent(HOSTS[0], port, extra=("--spool-max-bytes", "16KiB"))
        wait_for(lambda: len(spool_format.segments(spool)) >= 3, timeout=60,
                 what="three spool segments")
        self.assertEqual(self.stop(p), 0)
        segs = spool_format.segments(spool)
        first = spool_format.read_segment(segs[0][1], segs[0][0])
        last = spool_format.read_segment(segs[-1][1], segs[-1][0])
        instance = first[0]["instance"]
        all_seqs = [r["seq"] for r in self.waiting(spool)]
        self.assertEqual(all_seqs[0], 1, "nothing may have been dropped yet")

        # Garbage over one report in the middle of the first segment.
        hit = first[len(first) // 2]
        with open(segs[0][1], "r+b") as f:
            f.seek(hit["offset"] + hit["length"] - 10)
            f.write(b"\xde\xad\xbe\xef" * 2)
        # The last segment loses the end of its last report, as after a crash mid-write.
        os.truncate(segs[-1][1], last[-1]["offset"] + last[-1]["length"] - 5)
        # And a file of pure garbage with a segment's name.
        junk = os.path.join(spool, "seg-0000000000000000.pws")
        with open(junk, "wb") as f:
            f.write(os.urandom(3000))
        lost = {hit["seq"], last[-1]["seq"]}
        expected = [s for s in all_seqs if s not in lost]

        p, spool = self.agent(HOSTS[0], port, name="agent2")
        col = self.start_collector(self.pki, listen=f"127.0.0.1:{port}", name="collector2",
                                   db=self.db)
        got = wait_for(lambda: len(stored(self.db, HOSTS[0]).get(instance, [])) >= len(expected)
                       and stored(self.db, HOSTS[0])[instance], timeout=30,
                       what="the intact reports to arrive")
        self.assertEqual(got, expected)
        log = self.log_of("agent2")
        self.assertIn(f"{os.path.basename(segs[0][1])}: skipped ", log)
        self.assertIn(f"damaged bytes at offset {hit['offset']}", log)
        self.assertIn(f"{os.path.basename(segs[-1][1])}: skipped ", log)
        self.assertIn("seg-0000000000000000.pws: skipped 3000 damaged bytes at offset 0", log)
        self.assertFalse(os.path.exists(junk))
        wait_for(lambda: self.metric(self.scrape(col["metrics_port"]),
                                     "portwatch_host_agent_spool_corrupt_records_total",
                                     host=HOSTS[0]) == 3,
                 what="the agent to report three damaged regions")

    def test_spool_disk_filling_up_degrades_to_memory(self):
        if not shutil.which("unshare"):
            self.skipTest("needs unshare (util-linux) to give the agent a small disk")
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest(f"cannot create a mount namespace ({probe.stderr.decode().strip()}); "
                          "this test needs root")
        port = self.down_port()
        spool = os.path.join(self.tmp, "small-disk")
        os.mkdir(spool)
        # The agent alone sees a 12 KiB file system at its spool directory.
        prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c",
                  f'mount -t tmpfs -o size=12k tmpfs "{spool}" && exec "$0" "$@"')
        p = self.start_agent(self.pki, HOSTS[0], port, name="agent", prefix=prefix,
                             interval="100ms", extra=("--spool-dir", spool))
        wait_for(lambda: "No space left on device" in self.log_of("agent"), timeout=60,
                 what="the spool disk to fill up")
        self.assertIn("keeping reports in memory", self.log_of("agent"))
        col = self.start_collector(self.pki, listen=f"127.0.0.1:{port}", name="collector2",
                                   db=self.db)
        # Still running, counting, and everything made so far arrives in order.
        failures = wait_for(lambda: self.metric(self.scrape(col["metrics_port"]),
                                                "portwatch_host_agent_spool_write_failures_total",
                                                host=HOSTS[0]), timeout=30,
                            what="the agent to report spool write failures")
        self.assertGreater(failures, 0)
        self.assertIsNone(p.poll())
        seqs = next(iter(stored(self.db, HOSTS[0]).values()))
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))

    def test_unusable_spool_or_database_fails_at_start(self):
        blocker = os.path.join(self.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("x")
        pki = self.pki
        r = subprocess.run([AGENT, "run", "--collector", "127.0.0.1:1", "--ca", f"{pki}/ca.pem",
                            "--cert", f"{pki}/agents/{HOSTS[0]}.pem",
                            "--key", f"{pki}/agents/{HOSTS[0]}.key", "--host-name", HOSTS[0],
                            "--spool-dir", os.path.join(blocker, "spool")],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot create spool directory", r.stderr.decode())
        self.assertIn("--spool-dir", r.stderr.decode())

        # Two agents on one spool: the second is refused, naming the first.
        first, spool = self.agent(HOSTS[0], 1)
        wait_for(lambda: os.path.exists(os.path.join(spool, "lock")), what="the spool lock")
        wait_for(lambda: "reporting as" in self.log_of(HOSTS[0]), what="the first agent to run")
        r = subprocess.run([AGENT, "run", "--collector", "127.0.0.1:1", "--ca", f"{pki}/ca.pem",
                            "--cert", f"{pki}/agents/{HOSTS[0]}.pem",
                            "--key", f"{pki}/agents/{HOSTS[0]}.key", "--host-name", HOSTS[0],
                            "--spool-dir", spool], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"in use by another portwatch-agent (pid {first.pid})", r.stderr.decode())

        r = subprocess.run([COLLECTOR, "--listen", "127.0.0.1:0", "--metrics-listen",
                            "127.0.0.1:0", "--ca", f"{pki}/ca.pem", "--cert",
                            f"{pki}/collector.pem", "--key", f"{pki}/collector.key",
                            "--db", os.path.join(blocker, "c.db")],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--db", r.stderr.decode())


if __name__ == "__main__":
    import unittest
    unittest.main()

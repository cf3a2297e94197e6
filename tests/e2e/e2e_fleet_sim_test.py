"""A simulated fleet against real collectors: hundreds of hosts, each with its own certificate,
over real mutual TLS, with readers scraping and querying all the while; and two collector
shards behind one real Prometheus answering fleet-wide questions."""
import json
import os
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse
import urllib.request

from harness import ProcessTestCase, db_rows, wait_for

SIM = os.environ.get("PORTWATCH_SIM")
SCALE = 2400  # simulated seconds per real second: 40 minutes a second
# Slow leaks (1%/h) take about two simulated days to flag, too long for CI: the analysis's own
# scenario bank covers them.
MIX = "healthy=60,leak_fast=10,leak_destination=10,leak_process=10,tw_storm=5,flapping=5"
BAD = {"HOST_STATE_DRIFTING", "HOST_STATE_CRITICAL", "HOST_STATE_EXHAUSTED"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class FleetSimTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        if not SIM or not os.path.exists(SIM):
            self.fail("PORTWATCH_SIM is not set to the simulator; run this test through ctest")
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), operators=("portwatchctl",))

    def collector(self, name):
        # Analysis on the simulator's clock, and so the silent-after time (2 h) is three seconds.
        return self.start_collector(self.pki, name=name, extra=(
            "--analysis-time-scale", str(1 / SCALE), "--silent-after", "2h"))

    def sim(self, col, name, hosts, mix, duration, prefix):
        plan = os.path.join(self.tmp, f"{name}.plan.json")
        acked = os.path.join(self.tmp, f"{name}.acked")
        p = self.start(name, [SIM, "--collector", f"127.0.0.1:{col['grpc_port']}",
                              "--ca", f"{self.pki}/ca.pem", "--ca-key", f"{self.pki}/ca.key",
                              "--hosts", str(hosts), "--mix", mix, "--seed", "7",
                              "--prefix", prefix, "--interval", "250ms",
                              "--time-scale", str(SCALE), "--duration", duration,
                              "--plan-file", plan, "--acked-file", acked])
        wait_for(lambda: os.path.exists(plan) or p.poll() is not None, what=f"{name}'s plan")
        with open(plan) as f:
            return p, {h["host"]: h for h in json.load(f)["hosts"]}, acked

    def test_a_simulated_fleet_with_readers_running(self):
        col = self.collector("collector")
        hosts = 200
        sim, plan, acked_file = self.sim(col, "sim", hosts, MIX, "0", "sim")
        self.assertEqual(len(plan), hosts)
        leaks = {h for h, p in plan.items() if p["leaks"]}
        healthy = {h for h, p in plan.items() if p["scenario"] in ("healthy", "flapping")}
        self.assertEqual(len(leaks), 60)

        # Readers all along: a scrape and a `portwatchctl hosts` every second. Each listing is
        # checked: a healthy host is never drifting or worse, at any moment.
        stop = threading.Event()
        reads = {"scrapes": 0, "lists": 0, "errors": [], "false_alarms": set(), "states": {}}

        def read():
            while not stop.wait(1.0):
                try:
                    self.scrape(col["metrics_port"])
                    reads["scrapes"] += 1
                    rc, out, err = self.ctl(self.pki, col["grpc_port"], "--json", "hosts")
                    if rc != 0:
                        reads["errors"].append(err)
                        continue
                    listed = json.loads(out)["hosts"]
                    states = {h["host"]: h["state"] for h in listed}
                    for h in listed:
                        if h["host"] in healthy and h["state"] in BAD:
                            reads["false_alarms"].add(
                                (h["host"], h["state"], h.get("reason", ""),
                                 round(h.get("utilization", 0), 3),
                                 round(h.get("steady_utilization", 0), 3)))
                    reads["states"] = states
                    reads["lists"] += 1
                except Exception as e:  # noqa: BLE001 - reported below
                    reads["errors"].append(repr(e))
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        self.addCleanup(stop.set)

        # Every leak turns drifting or worse (the fast ones exhausted meanwhile).
        def all_leaks_flagged():
            if sim.poll() is not None:
                raise AssertionError(f"simulator exited: {self.log_of('sim')}")
            states = reads["states"]
            return [h for h in leaks if states.get(h) not in BAD] == []
        wait_for(all_leaks_flagged, timeout=150, interval=1,
                 what="every simulated leak drifting or worse")
        self.assertEqual(set(reads["states"]), set(plan))
        self.assertEqual(self.stop(sim, timeout=30), 0, self.log_of("sim"))
        stop.set()
        reader.join(timeout=30)
        self.assertEqual(reads["false_alarms"], set())
        self.assertEqual(reads["errors"], [])
        self.assertGreaterEqual(reads["scrapes"], 10)
        summary = json.loads(self.log_of("sim").strip().splitlines()[-1])
        self.assertEqual(summary["rejected"], 0, summary)
        self.assertGreater(summary["acked"], hosts * 20)

        # Every acknowledged report is in the database exactly once, and nothing twice.
        db = os.path.join(self.tmp, "collector.db")
        stored = {}
        for host, instance, seq, n in db_rows(
                db, "SELECT host, instance_id, sequence, COUNT(*) FROM reports "
                    "GROUP BY host, instance_id, sequence"):
            stored[(host, instance, seq)] = n
        self.assertEqual([k for k, n in stored.items() if n != 1], [])
        with open(acked_file) as f:
            acked = [tuple(line.split()) for line in f if line.strip()]
        self.assertEqual(len(acked), summary["acked"])
        missing = [a for a in acked if (a[0], a[1], int(a[2])) not in stored]
        self.assertEqual(missing, [])

        # The collector's memory stays within the README's sizing: 64 MiB of base and 256 KiB a
        # host (about 200 KiB measured, most of it gRPC's and OpenSSL's per-connection state).
        kib = rss_kib(col["pid"])
        self.assertLess(kib, 64 * 1024 + 256 * hosts, f"collector RSS {kib} KiB")

    def test_two_shards_behind_one_prometheus(self):
        shards = []
        for name, prefix in (("shard-a", "east"), ("shard-b", "west")):
            col = self.collector(name)
            sim, plan, _ = self.sim(col, f"sim-{name}", 40, "healthy=70,leak_destination=30",
                                    "0", prefix)
            shards.append((col, sim, plan))
        port = free_port()
        cfg = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: portwatch\n    static_configs:\n")
            for col, _, _ in shards:
                f.write(f"      - targets: ['127.0.0.1:{col['metrics_port']}']\n")
        prom = self.start("prometheus", [
            "prometheus", f"--config.file={cfg}",
            f"--storage.tsdb.path={os.path.join(self.tmp, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{port}"])

        def ready():
            if prom.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log_of('prometheus')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, timeout=60, what="prometheus ready")

        def query(q):
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.load(r)
            self.assertEqual(body["status"], "success", body)
            return body["data"]["result"]

        # Hosts by state summed over both collectors: every host of both shards, once.
        def fleet_total():
            r = query("sum(portwatch_fleet_hosts_by_state)")
            return r and float(r[0]["value"][1]) == 80 and len(query("up == 1")) == 2
        wait_for(fleet_total, timeout=60, what="80 hosts across both shards")
        by_collector = query("sum by (instance) (portwatch_fleet_hosts)")
        self.assertEqual(sorted(float(r["value"][1]) for r in by_collector), [40.0, 40.0])
        self.assertEqual(float(query("count(portwatch_host_info)")[0]["value"][1]), 80)

        # The destination both shards' leaking hosts share is the fleet's top one.
        def top_destination():
            r = query("topk(1, sum by (destination) "
                      "(portwatch_fleet_destination_growing_hosts))")
            return r and r[0]["metric"].get("destination") == "10.20.0.5:1433" and \
                float(r[0]["value"][1]) >= 2 and r
        top = wait_for(top_destination, timeout=120, interval=1,
                       what="the shared leaking destination on top")
        growing = {r["metric"]["instance"] for r in query(
            'portwatch_fleet_destination_growing_hosts{destination="10.20.0.5:1433"} > 0')}
        self.assertEqual(len(growing), 2, f"both shards see it grow: {growing} {top}")
        for _, sim, _ in shards:
            self.assertIsNone(sim.poll(), "simulators run until the test stops them")


if __name__ == "__main__":
    unittest.main()

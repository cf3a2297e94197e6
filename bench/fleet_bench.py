#!/usr/bin/env python3
"""Fleet benchmark: a real collector under portwatch-sim, on this machine, side by side with and
without readers, in one run.

For each fleet size it starts a fresh collector (--db-sync full, database in a temp dir) and a
simulator of that many hosts, each on its own mutual-TLS stream with its own certificate, every
host reporting every --interval. After --warmup seconds it measures for --seconds:
  - reports/s acknowledged and the ack latency p50/p99, as the simulator saw them;
  - with readers: /metrics scraped and `portwatchctl hosts` called every --reader-every seconds,
    each timed (render time and size of /metrics, ListHosts latency);
  - the collector's CPU time and RSS, and RSS per host.
Simulator and collector share the machine's cores (both are printed as CPU seconds).

With --flood, the fairness benchmark instead: each fleet size runs without a flood, then with one
extra certificate (flood01) sending reports as fast as it can on --flood-streams streams
(ingest_probe --flood, real mTLS), once under the collector's default per-host rate limit and once
with it off; it prints the normal hosts' p99 ack latency of each run and its ratio to the run
without the flood, and how many of the flood's reports were stored. Usage:
  bench/fleet_bench.py --build build [--hosts 1000,5000] [--interval 500ms] [--seconds 60]
  bench/fleet_bench.py --build build --hosts 10000 --interval 2s --time-scale 60 --seconds 60
      (memory after an hour of simulated history; 10,000 hosts)
  bench/fleet_bench.py --build build --flood --hosts 500 --interval 1s --seconds 30
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def proc_stat(pid):
    """(cpu seconds, rss KiB) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return cpu, rss


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    sys.exit(f"fleet_bench: timed out waiting for {what}")


def start_flood(args, root, tmp, grpc_port):
    """One identity flooding: --flood-streams probes on the same certificate, each sending
    reports as fast as the collector reads them (distinct instances, so none is a duplicate).
    They run at the lowest CPU priority: a flooding host has its own CPU, and on this shared
    machine they would otherwise take the simulator's, which the normal hosts' latency would
    show although the collector had nothing to do with it."""
    pki = os.path.join(root, "pki")
    procs = []
    for i in range(args.flood_streams):
        procs.append(subprocess.Popen(
            ["nice", "-n", "19", os.path.join(args.build, "tests", "ingest_probe"), "--target",
             f"127.0.0.1:{grpc_port}", "--ca", f"{pki}/ca.pem", "--cert",
             f"{pki}/agents/flood01.pem", "--key", f"{pki}/agents/flood01.key", "--hostname",
             "flood01", "--instance", f"flood-{i}", "--collected-now", "--sequence", "1",
             "--flood", str(args.flood_reports), "--timeout", "3600"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"flood{i}.log"), "wb")))
    return procs


def run_one(args, hosts, readers, root, flood=None):
    """flood: None (no flood), "limited" (the default rate limit) or "unlimited" (limit off)."""
    tmp = tempfile.mkdtemp(prefix="pw-fleet-bench-", dir=root)
    pki = os.path.join(root, "pki")
    ready = os.path.join(tmp, "ready.json")
    col_log = open(os.path.join(tmp, "collector.log"), "wb")
    extra = []
    if flood == "unlimited":
        extra += ["--max-reports-per-second-per-host", "0"]
    if args.time_scale != 1:
        extra += ["--analysis-time-scale", str(1 / args.time_scale), "--silent-after",
                 f"{int(args.time_scale * 10)}s"]
    col = subprocess.Popen([os.path.join(args.build, "collector", "portwatch-collector"),
                            "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                            "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/collector.pem",
                            "--key", f"{pki}/collector.key", "--db", os.path.join(tmp, "c.db"),
                            "--ready-file", ready, "--db-sync", "full", *extra],
                           stdout=col_log, stderr=subprocess.STDOUT)
    sim = None
    flooders = []
    try:
        info = wait_for(lambda: os.path.exists(ready) and json.load(open(ready)), 20,
                        "collector ready")
        sim_log = open(os.path.join(tmp, "sim.log"), "wb")
        sim = subprocess.Popen([os.path.join(args.build, "tools", "portwatch-sim"),
                                "--collector", f"127.0.0.1:{info['grpc_port']}",
                                "--ca", f"{pki}/ca.pem", "--ca-key", f"{pki}/ca.key",
                                "--hosts", str(hosts), "--interval", args.interval,
                                "--time-scale", str(args.time_scale), "--mix", args.mix,
                                "--duration", f"{int(args.warmup + args.seconds)}s",
                                "--measure-after", f"{int(args.warmup)}s"],
                               stdout=subprocess.PIPE, stderr=sim_log)
        if flood:
            flooders = start_flood(args, root, tmp, info["grpc_port"])
        time.sleep(args.warmup)  # a benchmark's warm-up, not a synchronisation
        cpu0, _ = proc_stat(col.pid)
        sim_cpu0, _ = proc_stat(sim.pid)
        t0 = time.monotonic()
        scrapes, lists = [], []
        stop = threading.Event()

        def read():
            ctl = [os.path.join(args.build, "tools", "portwatchctl"), "--collector",
                   f"127.0.0.1:{info['grpc_port']}", "--ca", f"{pki}/ca.pem", "--cert",
                   f"{pki}/operators/portwatchctl.pem", "--key",
                   f"{pki}/operators/portwatchctl.key", "--json", "hosts"]
            while not stop.wait(args.reader_every):
                s = time.monotonic()
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{info['metrics_port']}/metrics", timeout=30) as r:
                    size = len(r.read())
                scrapes.append((time.monotonic() - s, size))
                s = time.monotonic()
                subprocess.run(ctl, capture_output=True, timeout=60)
                lists.append(time.monotonic() - s)
        reader = threading.Thread(target=read, daemon=True)
        if readers:
            reader.start()
        # The simulator's CPU just before it ends (its process is gone after communicate()).
        sim_cpu1 = sim_cpu0
        while sim.poll() is None and time.monotonic() - t0 < args.seconds - 1:
            sim_cpu1, _ = proc_stat(sim.pid)
            time.sleep(1)
        sim_elapsed = time.monotonic() - t0
        out, _ = sim.communicate(timeout=args.warmup + args.seconds + 120)
        stop.set()
        if readers:
            reader.join(timeout=60)
        elapsed = time.monotonic() - t0
        cpu1, rss = proc_stat(col.pid)
        summary = json.loads(out.decode().strip().splitlines()[-1])
        row = {"hosts": hosts, "readers": readers, "acks_per_s": summary["acks_per_second"],
               "ack_p50_ms": summary["ack_p50_ms"], "ack_p99_ms": summary["ack_p99_ms"],
               "collector_cpu_s_per_s": (cpu1 - cpu0) / elapsed,
               "sim_cpu_s_per_s": (sim_cpu1 - sim_cpu0) / max(sim_elapsed, 1e-3),
               "rss_mib": rss / 1024,
               "rss_kib_per_host": rss / hosts}
        if flood is not None or args.flood:
            row["flood"] = flood or "none"
            with sqlite3.connect(f"file:{os.path.join(tmp, 'c.db')}?mode=ro", uri=True) as db:
                (n,), = db.execute("SELECT COUNT(*) FROM reports WHERE host = 'flood01'")
            row["flood_reports_stored_per_s"] = n / elapsed
        if scrapes:
            row["scrape_s_median"] = statistics.median(s for s, _ in scrapes)
            row["scrape_bytes"] = scrapes[-1][1]
            row["scrape_bytes_per_host"] = scrapes[-1][1] / hosts
            row["listhosts_s_median"] = statistics.median(lists)
        return row
    finally:
        for p in (*flooders, sim, col):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def flood_table(args, root):
    rows = []
    for n in [int(x) for x in args.hosts.split(",")]:
        for flood in args.flood_modes.split(","):
            flood = None if flood == "none" else flood
            row = run_one(args, n, False, root, flood)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'hosts':>6} {'flood':>10} {'acks/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'p99 ratio':>9} {'flood stored/s':>14} {'cpu/s':>6}")
    base = {}
    for r in rows:
        if r["flood"] == "none":
            base[r["hosts"]] = r["ack_p99_ms"]
        ratio = r["ack_p99_ms"] / max(base.get(r["hosts"], r["ack_p99_ms"]), 1e-6)
        print(f"{r['hosts']:>6} {r['flood']:>10} {r['acks_per_s']:>8.0f} {r['ack_p50_ms']:>7.1f} "
              f"{r['ack_p99_ms']:>7.1f} {ratio:>9.2f} {r['flood_reports_stored_per_s']:>14.0f} "
              f"{r['collector_cpu_s_per_s']:>6.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--hosts", default="1000,5000")
    ap.add_argument("--interval", default="500ms")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--mix", default="healthy=80,leak_slow=5,leak_fast=5,tw_storm=5,flapping=5")
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--reader-every", type=float, default=5)
    ap.add_argument("--no-compare", action="store_true", help="only the run with readers")
    ap.add_argument("--flood", action="store_true",
                    help="fairness: normal hosts without, then with, one identity flooding")
    ap.add_argument("--flood-streams", type=int, default=8,
                    help="the flooding identity's streams (the collector allows 8 per identity)")
    ap.add_argument("--flood-reports", type=int, default=10000000,
                    help="reports each flooding stream tries to send")
    ap.add_argument("--flood-modes", default="none,limited,unlimited",
                    help="which runs: none, limited (the default rate limit), unlimited")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="pw-fleet-bench-")
    try:
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy",
                                     "pki", "make-dev-pki.sh"), "--out", f"{root}/pki",
                        "--operator", "portwatchctl", "flood01"], check=True, capture_output=True)
        if args.flood:
            flood_table(args, root)
            return
        rows = []
        for n in [int(x) for x in args.hosts.split(",")]:
            for readers in ([True] if args.no_compare else [False, True]):
                row = run_one(args, n, readers, root)
                rows.append(row)
                print(json.dumps(row), flush=True)
        print(f"\n{'hosts':>6} {'readers':>7} {'acks/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'cpu/s':>6} {'sim cpu':>7} {'RSS MiB':>8} {'KiB/host':>8} {'scrape s':>8} {'KB/host':>7} "
              f"{'ListHosts s':>11}")
        for r in rows:
            print(f"{r['hosts']:>6} {('yes' if r['readers'] else 'no'):>7} {r['acks_per_s']:>8.0f} "
                  f"{r['ack_p50_ms']:>7.1f} {r['ack_p99_ms']:>7.1f} "
                  f"{r['collector_cpu_s_per_s']:>6.2f} {r['sim_cpu_s_per_s']:>7.2f} {r['rss_mib']:>8.1f} "
                  f"{r['rss_kib_per_host']:>8.1f} {r.get('scrape_s_median', 0):>8.3f} "
                  f"{r.get('scrape_bytes_per_host', 0) / 1000:>7.2f} "
                  f"{r.get('listhosts_s_median', 0):>11.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

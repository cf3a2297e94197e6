#!/usr/bin/env python3
"""Scan benchmark: the agent's socket scan against ss(8), side by side, in one run.

For each size (default 1k, 10k, 20k TCP sockets on loopback) it fills a fresh network namespace
with that many sockets (connections held open by helper processes, both ends counted), then
measures in the namespace:
  - ss -tan and ss -tanp: wall time of the whole command, median of --runs;
  - the agent's steady-state scan + summary (socket table only) and its full per-interval sample
    (with process attribution, settings and kernel counters), median of --runs after a warm-up,
    from `portwatch-agent bench`;
  - the agent as a whole process, `portwatch-agent snapshot --json`, wall time like ss;
  - the RSS of a running agent (`portwatch-agent run`, 1 s interval, after 8 samples; its
    collector is absent, so it also holds its pending reports): private (anonymous) memory and
    shared-library pages apart.
Prints a table with the ratios agent/ss. Needs root (network namespaces). Usage:
  sudo bench/scan_bench.py --agent build/agent/portwatch-agent [--sizes 1000,10000,20000]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HOLDER = r"""
import resource, socket, sys
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen(4096)
port = lst.getsockname()[1]
keep = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    keep += [c, lst.accept()[0]]
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.read()
"""
PER_HOLDER = 4000  # connections per helper process (8001 descriptors)


def child_cpu_ms():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (u.ru_utime + u.ru_stime) * 1000


def cost_ms(argv, runs):
    """Median wall and CPU (user + system) milliseconds of a whole command."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), child_cpu_ms()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append(child_cpu_ms() - c0)
    return statistics.median(wall), statistics.median(cpu)


def running_agent_rss(args):
    pki = args.pki
    host = "bench-host"
    p = subprocess.Popen([args.agent, "run", "--collector", "127.0.0.1:1", "--ca",
                          f"{pki}/ca.pem", "--cert", f"{pki}/agents/{host}.pem", "--key",
                          f"{pki}/agents/{host}.key", "--host-name", host, "--interval", "1s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(8.5)  # eight collection intervals: a steady state, not a readiness wait
        status = {}
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                status[k] = v.strip()
        kb = lambda k: int(status[k].split()[0])
        return {"run_rss_kb": kb("VmRSS"), "run_anon_kb": kb("RssAnon"),
                "run_file_kb": kb("RssFile"), "run_peak_kb": kb("VmHWM")}
    finally:
        p.terminate()
        p.wait()


def count_sockets():
    out = subprocess.run(["ss", "-tanH"], capture_output=True, check=True).stdout
    return out.count(b"\n")


def inside(args):
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        holders = []
        conns = size // 2
        while conns > 0:
            n = min(conns, PER_HOLDER)
            p = subprocess.Popen([sys.executable, "-c", HOLDER, str(n)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE)
            if p.stdout.readline().strip() != b"ready":
                sys.exit("bench: a socket holder failed to start (file descriptor limit?)")
            holders.append(p)
            conns -= n
        sockets = count_sockets()
        ss, ss_cpu = cost_ms(["ss", "-tan"], args.runs)
        ssp, ssp_cpu = cost_ms(["ss", "-tanp"], args.runs)
        snap, snap_cpu = cost_ms([args.agent, "snapshot", "--json"], args.runs)
        bench = json.loads(subprocess.run([args.agent, "bench", "--iterations", str(args.runs)],
                                          capture_output=True, check=True).stdout)
        bench.update(running_agent_rss(args))
        for p in holders:
            p.stdin.close()
            p.wait()
        bench["agent_sockets"] = bench.pop("sockets")
        results.append(dict(size=size, sockets=sockets, ss_ms=ss, ss_cpu_ms=ss_cpu, ssp_ms=ssp,
                            ssp_cpu_ms=ssp_cpu, snapshot_ms=snap, snapshot_cpu_ms=snap_cpu,
                            **bench))
    print(json.dumps(results))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agent", required=True)
    ap.add_argument("--sizes", default="1000,10000,20000")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pki", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.agent = os.path.abspath(args.agent)
    if args.inside:
        return inside(args)
    import tempfile
    pki = tempfile.mkdtemp(prefix="pwbench-pki-")
    subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "pki",
                    "make-dev-pki.sh"), "--out", pki, "bench-host"], check=True,
                   stderr=subprocess.DEVNULL)
    rows = []
    for size in args.sizes.split(","):
        # A fresh namespace per size: one size's TIME_WAIT leftovers never count in the next.
        ns = f"pwbench{os.getpid()}-{size}"
        if subprocess.run(["ip", "netns", "add", ns]).returncode != 0:
            sys.exit("bench: cannot create a network namespace; run as root")
        try:
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                            "net.ipv4.ip_local_port_range=10000 65000"], check=True)
            out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__,
                                  "--inside", "--agent", args.agent, "--sizes", size,
                                  "--runs", str(args.runs), "--pki", pki], capture_output=True,
                                 check=True)
        finally:
            subprocess.run(["ip", "netns", "delete", ns])
        rows += json.loads(out.stdout)
    print("CPU milliseconds (user + system) per scan, median; wall milliseconds in brackets")
    print(f"{'sockets':>8} | {'ss -tan':>15} {'agent scan':>15} {'ratio':>5} | {'ss -tanp':>15} "
          f"{'agent full':>15} {'ratio':>5} | {'snapshot':>15} | {'RSS MiB':>7} {'private':>7} "
          f"{'shared':>6}")
    cell = lambda cpu, wall: f"{cpu:6.1f} [{wall:6.1f}]"
    for r in rows:
        print(f"{r['sockets']:>8} | {cell(r['ss_cpu_ms'], r['ss_ms'])} "
              f"{cell(r['scan_cpu_ms_median'], r['scan_ms_median'])} "
              f"{r['scan_cpu_ms_median'] / r['ss_cpu_ms']:>5.2f} | "
              f"{cell(r['ssp_cpu_ms'], r['ssp_ms'])} "
              f"{cell(r['full_cpu_ms_median'], r['full_ms_median'])} "
              f"{r['full_cpu_ms_median'] / r['ssp_cpu_ms']:>5.2f} | "
              f"{cell(r['snapshot_cpu_ms'], r['snapshot_ms'])} | "
              f"{r['run_rss_kb'] / 1024:>7.1f} {r['run_anon_kb'] / 1024:>7.1f} "
              f"{r['run_file_kb'] / 1024:>6.1f}")
    print("\nscan = socket table + summary in the running agent (steady state);")
    print("full = what the agent does each interval: scan, process attribution, settings,")
    print("kernel counters (steady state); ss and snapshot are whole one-shot processes.")
    print("RSS of a running agent: private = anonymous memory, shared = library pages (gRPC,")
    print("OpenSSL, protobuf, libstdc++) mapped from files and shared with other processes.")
    print(f"raw: {json.dumps(rows)}")


if __name__ == "__main__":
    main()

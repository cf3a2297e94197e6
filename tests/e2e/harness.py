"""Helpers for portwatch's cross-component tests: real processes, real certificates, loopback.

Every process a test starts is registered and stopped by its PID when the test ends, pass or
fail. Servers bind port 0 and report the port they got; tests wait on readiness (a ready file, a
metric), never on a fixed sleep.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.request

AGENT = os.environ.get("PORTWATCH_AGENT", "")
COLLECTOR = os.environ.get("PORTWATCH_COLLECTOR", "")
PROBE = os.environ.get("PORTWATCH_PROBE", "")
PKI_SCRIPT = os.environ.get("PORTWATCH_PKI_SCRIPT", "")
CTL = os.environ.get("PORTWATCH_CTL", "")


def wait_for(predicate, timeout=20.0, what="condition", interval=0.05):
    """Polls predicate until it returns a truthy value; fails the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def db_rows(db, sql, *args):
    """Runs one query on a collector's database, read-only, as an operator would while the
    collector runs."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> list of (name, labels dict, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


class NetNs:
    """A network namespace made for one test, removed on close. Needs root (CI runs as root)."""

    def __init__(self, name):
        self.name = name
        r = subprocess.run(["ip", "netns", "add", name], capture_output=True)
        if r.returncode != 0:
            raise unittest.SkipTest(
                f"cannot create a network namespace ({r.stderr.decode().strip()}): this test "
                "needs root and iproute2")
        self.run("ip", "link", "set", "lo", "up")

    def argv(self, *argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv, **kw):
        return subprocess.run(self.argv(*argv), check=True, capture_output=True, **kw)

    def sysctl(self, key, value):
        self.run("sysctl", "-q", "-w", f"{key}={value}")

    def close(self):
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)


class ProcessTestCase(unittest.TestCase):
    """A test case with a temp dir, a dev PKI and process bookkeeping."""

    def setUp(self):
        for var, path in [("PORTWATCH_AGENT", AGENT), ("PORTWATCH_COLLECTOR", COLLECTOR),
                          ("PORTWATCH_PROBE", PROBE), ("PORTWATCH_PKI_SCRIPT", PKI_SCRIPT)]:
            if not path or not os.path.exists(path):
                self.fail(f"{var} is not set to an existing file; run this test through ctest")
        self.tmp = tempfile.mkdtemp(prefix="portwatch-e2e-")
        self.procs = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for p, log in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        if os.environ.get("PORTWATCH_KEEP_TMP"):
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def netns(self):
        """A fresh network namespace for this test, removed at cleanup (after its processes)."""
        ns = NetNs(f"pw{os.getpid()}-{len(self.procs)}-{int(time.monotonic() * 1000) % 100000}")
        self.addCleanup(ns.close)
        return ns

    def start(self, name, argv, stdin=None):
        log = open(os.path.join(self.tmp, f"{name}.log"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=stdin)
        self.procs.append((p, log))
        return p

    def log_of(self, name):
        with open(os.path.join(self.tmp, f"{name}.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        """Stops one process by PID and returns its exit code."""
        p.send_signal(sig)
        return p.wait(timeout=timeout)

    def make_pki(self, out, *hosts, operators=()):
        ops = [a for o in operators for a in ("--operator", o)]
        subprocess.run([PKI_SCRIPT, "--out", out, *ops, *hosts], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return out

    def ctl(self, pki, grpc_port, *args, cert="operators/portwatchctl", prefix=()):
        """Runs portwatchctl against a collector; returns (exit code, stdout, stderr)."""
        r = subprocess.run([*prefix, CTL, "--collector", f"127.0.0.1:{grpc_port}", "--ca",
                            f"{pki}/ca.pem", "--cert", f"{pki}/{cert}.pem", "--key",
                            f"{pki}/{cert}.key", *args], capture_output=True, timeout=30)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def start_collector(self, pki, listen="127.0.0.1:0", name="collector", extra=(), db=None,
                        metrics_listen="127.0.0.1:0", prefix=()):
        """Starts a collector and waits for its ready file. `db` defaults to a database of its
        own in the test's directory; pass the same path again to restart on the same state.
        `prefix` runs it through another command (e.g. ip netns exec NS)."""
        ready = os.path.join(self.tmp, f"{name}.ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        db = db or os.path.join(self.tmp, f"{name}.db")
        p = self.start(name, [*prefix, COLLECTOR, "--listen", listen,
                              "--metrics-listen", metrics_listen,
                              "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/collector.pem",
                              "--key", f"{pki}/collector.key", "--ready-file", ready,
                              "--db", db, *extra])

        def is_ready():
            if p.poll() is not None:
                raise AssertionError(f"collector exited {p.returncode}: {self.log_of(name)}")
            return os.path.exists(ready)
        wait_for(is_ready, what="collector ready file")
        with open(ready) as f:
            info = json.load(f)
        info["proc"] = p
        return info

    def start_agent(self, pki, host, grpc_port, interval="200ms", name="agent", extra=(),
                    prefix=()):
        return self.start(name, [*prefix, AGENT, "run", "--collector", f"127.0.0.1:{grpc_port}",
                                 "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/agents/{host}.pem",
                                 "--key", f"{pki}/agents/{host}.key", "--host-name", host,
                                 "--interval", interval, *extra])

    def scrape(self, metrics_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, text, name, **labels):
        """The value of the one sample with this name and these labels, or None."""
        for n, l, v in parse_metrics(text):
            if n == name and all(l.get(k) == val for k, val in labels.items()):
                return v
        return None

"""The exhaustion drills, end to end and real. Each site is a network namespace with a 300-port
ephemeral range and tcp_tw_reuse=0, a local server, a load process, an agent (1 s interval) and a
collector whose analysis runs on compressed time (--analysis-time-scale: an hour of the default
thresholds is a minute). The kernel's TIME_WAIT is not compressed: it lasts 60 s in every site.
Three sites run side by side, so the drills cost the wall time of the longest one:

- leaky: a process leaks outbound connections at a steady rate until connect() fails with
  EADDRNOTAVAIL. Asserted: the host turns drifting well before the first failed connect, with an
  ETA within 30% of the real time left then; the leaking process and the destination are named;
  the host is exhausted or critical at the failure.
- stormy: a TIME_WAIT storm. A process opens and closes connections (the client closes first, so
  each close leaves a TIME_WAIT on one of its ephemeral ports) at a rate whose TIME_WAIT holds 65%
  of the range; the agent starts once TIME_WAIT is at that plateau, and a minute later the rate
  ramps until connect() fails with EADDRNOTAVAIL. Asserted: the host is flagged (drifting, at
  risk, or worse; a flag that began during the ramp) with a churn explanation naming TIME_WAIT and
  the destination at least two minutes before the first failure, and the churning client (each
  connection held STORM_HOLD_S, so the agent sees its owner) named as the likely process, marked
  inferred, not the host's other processes; it is critical or exhausted at the failure.
- steady: the churn control. The same churn at a constant rate whose TIME_WAIT plateau holds 75%
  of the range (the at-risk margin is 85%), watched from the agent's first report on.
  Asserted: it never leaves ok, from the start (the estimate once overshot over its first
  TIME_WAIT, reading 118% and critical for a control at 75%) and on the plateau (whose estimate
  once jumped by 12 points every ~40 s).

Observation does not perturb what is observed: each site is watched by one long-lived
`portwatchctl --watch` (one connection) instead of a new connection per poll, whose TIME_WAIT
would take ports from the range under test."""
import json
import os
import sys
import time
import unittest

from harness import AGENT, COLLECTOR, CTL, ProcessTestCase, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SCALE = str(1.0 / 60)
PORT_RANGE = (40000, 40299)      # the agent's own connection takes the last port (reserved)
USABLE = PORT_RANGE[1] - PORT_RANGE[0]
TIME_WAIT_S = 60                 # Linux: TCP_TIMEWAIT_LEN, not tunable
FULL_RATE = USABLE / TIME_WAIT_S  # closes per second whose TIME_WAIT fills the range
STORM_START = 0.65 * FULL_RATE
STORM_RAMP = FULL_RATE / 660     # from 65% to full in about 230 s, plus half a TIME_WAIT of lag
STORM_PLATEAU_S = 120            # a TIME_WAIT to fill, then a TIME_WAIT seen at the plateau
STORM_HOLD_S = 0.5               # each storm connection's life: ~2 live at a time, as a client's
# How long the churn estimate is given before the control is judged: none. It must not overshoot
# over its first TIME_WAIT, when TIME_WAIT is already at its plateau as the agent starts.
ESTIMATE_WARMUP_S = 0
CONTROL_RATE = 0.75 * FULL_RATE

FLAGGED = ("HOST_STATE_DRIFTING", "HOST_STATE_CRITICAL", "HOST_STATE_EXHAUSTED")


class Watch:
    """The HostDetail answers of one `portwatchctl --json --watch` process, as they arrive. Each
    answer is an indented JSON object from a line "{" to a line "}"; a failed query prints an
    error line between answers, which is skipped."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.lines = None

    def poll(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        chunks = (self.partial + data).split(b"\n")
        self.partial = chunks.pop()
        out = []
        for raw in chunks:
            line = raw.decode(errors="replace")
            if self.lines is None:
                if line == "{":
                    self.lines = [line]
                continue
            self.lines.append(line)
            if line == "}":
                out.append(json.loads("\n".join(self.lines)))
                self.lines = None
        return out


class Site:
    def __init__(self, name, ns, info, dest, watch):
        self.name, self.ns, self.info, self.dest, self.watch = name, ns, info, dest, watch
        self.seen = []   # HostDetail answers, oldest first

    def poll(self):
        got = [d for d in self.watch.poll() if d.get("info", {}).get("host") == self.name]
        self.seen.extend(got)
        return got


class DriftDrillTest(ProcessTestCase):
    def start_site(self, name, load_args, load_first=False):
        """A namespace with a collector, a server, a load client, an agent and a watcher. With
        `load_first` the load starts now, before the agent (see watch_site)."""
        ns = self.netns()
        ns.sysctl("net.ipv4.ip_local_port_range", f"{PORT_RANGE[0]} {PORT_RANGE[1]}")
        ns.sysctl("net.ipv4.tcp_tw_reuse", "0")
        info = self.start_collector(self.pki, name=f"{name}-collector", prefix=ns.argv(),
                                    extra=("--analysis-time-scale", SCALE,
                                           "--query-clients", "portwatchctl"))
        # The agent's own connection must not compete for the ports it watches.
        ns.sysctl("net.ipv4.ip_local_reserved_ports", str(PORT_RANGE[1]))
        port_file = os.path.join(self.tmp, f"{name}-server.port")
        self.start(f"{name}-server", ns.argv(sys.executable, os.path.join(HERE, "leaker.py"),
                                             "--serve", port_file))
        def read_port():
            if not os.path.exists(port_file):
                return None
            with open(port_file) as f:
                return f.read().strip()
        port = wait_for(read_port, what=f"{name} server port")
        site = Site(name, ns, info, f"127.0.0.1:{port}",
                    Watch(os.path.join(self.tmp, f"{name}-watch.log")))
        if load_first:
            self.start_load(site, load_args)
        site.load_args = load_args
        return site

    def start_load(self, site, load_args):
        self.start(f"{site.name}-load", site.ns.argv(
            sys.executable, os.path.join(HERE, "leaker.py"), "--target", site.dest, *load_args))

    def time_wait_count(self, site):
        out = site.ns.run("ss", "-Htan", "state", "time-wait").stdout
        return len(out.splitlines())

    def watch_site(self, site, load_first, plateau=0):
        """Starts the agent and the watcher of a site. A site whose load runs already is watched
        once the namespace holds `plateau` TIME_WAIT sockets: the analysis first sees the host
        with its churn at its plateau. Otherwise the load starts once the agent's first report is
        in: the baseline is the idle host."""
        if plateau:
            wait_for(lambda: self.time_wait_count(site) >= plateau, timeout=TIME_WAIT_S * 2,
                     what=f"{site.name}: TIME_WAIT at its plateau of {plateau}", interval=0.5)
        self.start_agent(self.pki, site.name, site.info["grpc_port"], interval="1s",
                         name=f"{site.name}-agent", extra=("--source-ports", str(PORT_RANGE[1])),
                         prefix=site.ns.argv())
        self.start(f"{site.name}-watch", site.ns.argv(
            CTL, "--collector", f"127.0.0.1:{site.info['grpc_port']}", "--ca",
            f"{self.pki}/ca.pem", "--cert", f"{self.pki}/operators/portwatchctl.pem", "--key",
            f"{self.pki}/operators/portwatchctl.key", "--json", "--watch", "1", "host",
            site.name))
        wait_for(site.poll, timeout=30, what=f"{site.name} known to its collector", interval=0.2)
        if not load_first:
            self.start_load(site, site.load_args)

    def event(self, name, kind):
        for line in self.log_of(f"{name}-load").splitlines():
            if f'"{kind}"' in line:
                return json.loads(line)
        return None

    def test_leak_and_storm_are_forecast_before_exhaustion_and_churn_is_not(self):
        if not CTL or not os.path.exists(CTL):
            self.fail("PORTWATCH_CTL is not set; run this test through ctest")
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), "leaky", "stormy", "steady",
                                 operators=["portwatchctl"])
        # The churn sites start their load first; the leak site is watched from idle.
        stormy = self.start_site("stormy", (
            "--mode", "churn", "--rate", f"{STORM_START:.3f}", "--ramp", f"{STORM_RAMP:.5f}",
            "--ramp-after", str(STORM_PLATEAU_S), "--hold", str(STORM_HOLD_S)), load_first=True)
        steady = self.start_site("steady", ("--mode", "churn", "--rate", f"{CONTROL_RATE:.3f}"),
                                 load_first=True)
        leaky = self.start_site("leaky", ("--mode", "leak", "--rate", "1"))
        self.watch_site(leaky, load_first=False)
        self.watch_site(stormy, load_first=True, plateau=int(0.95 * STORM_START * TIME_WAIT_S))
        self.watch_site(steady, load_first=True, plateau=int(0.95 * CONTROL_RATE * TIME_WAIT_S))

        leak_first = None     # (collector ms, info) of the first drifting answer
        leak_final = None
        storm_done_ms = None  # the storm host is watched for 10 s past its failure
        deadline = time.monotonic() + 720
        while time.monotonic() < deadline:
            for d in leaky.poll():
                i = d["info"]
                if leak_first is None and i["state"] in FLAGGED:
                    leak_first = (int(i["last_seen_unix_ms"]), i)
                ex = self.event("leaky", "exhausted")
                if ex and leak_final is None and i["state"] in ("HOST_STATE_EXHAUSTED",
                                                                "HOST_STATE_CRITICAL"):
                    leak_final = d
            for d in stormy.poll():
                i = d["info"]
                ex = self.event("stormy", "exhausted")
                if ex and storm_done_ms is None:
                    storm_done_ms = ex["unix_ms"] + 10_000
                if storm_done_ms and int(i["last_seen_unix_ms"]) >= storm_done_ms:
                    storm_done_ms = -1
            steady.poll()
            if leak_final is not None and storm_done_ms == -1:
                break
            time.sleep(0.5)  # polling interval of the observer, not a synchronisation
        else:
            raise AssertionError(f"drills did not finish: leak first drift {leak_first}, leak "
                                 f"final {leak_final is not None}, storm failure {self.event('stormy', 'exhausted')}")

        with self.subTest("leak"):
            self.check_leak(leaky, leak_first, leak_final)
        with self.subTest("storm"):
            self.check_storm(stormy)
        with self.subTest("control"):
            self.check_control(steady)

    def after_warmup(self, site):
        """The site's answers once the churn estimate has ESTIMATE_WARMUP_S of history, and the
        states it showed before."""
        start = int(site.seen[0]["info"]["last_seen_unix_ms"])
        early = [d["info"]["state"] for d in site.seen
                 if int(d["info"]["last_seen_unix_ms"]) < start + ESTIMATE_WARMUP_S * 1000]
        return [d["info"] for d in site.seen[len(early):]], early

    def check_control(self, site):
        seen, early = self.after_warmup(site)
        self.assertGreater(len(seen), 120, "the control was watched for less than two minutes")
        states = {i["state"] for i in seen}
        peak = max(i.get("steady_utilization", 0) for i in seen)
        self.assertEqual(states, {"HOST_STATE_OK"},
                         f"the churn control left ok (steady occupancy peaked at {peak:.0%})")
        self.assertFalse(any(i.get("at_risk") for i in seen))
        # It did churn near its plateau: the model saw it, it was not idle.
        low = min(i.get("steady_utilization", 0) for i in seen)
        self.assertGreater(low, 0.6, f"the control's churn was not seen: {low:.0%}")
        print(f"control: steady occupancy {low:.0%}..{peak:.0%} over {len(seen)} s at its "
              f"plateau, always ok; during the estimate's first {ESTIMATE_WARMUP_S} s: "
              f"{sorted(set(early))}")

    def check_leak(self, site, first, final):
        self.assertIsNotNone(first, "the leak was never flagged before exhaustion")
        t_drift, drift_info = first
        exhausted_at = self.event(site.name, "exhausted")["unix_ms"]
        self.assertEqual(drift_info["state"], "HOST_STATE_DRIFTING",
                         f"first flagged state should be drifting: {drift_info}")
        left = (exhausted_at - t_drift) / 1000
        self.assertGreater(left, 30, f"flagged only {left:.0f} s before exhaustion")
        eta = drift_info["forecast"]["eta_seconds"]
        self.assertLess(abs(eta - left) / left, 0.30,
                        f"ETA {eta:.0f} s at first drift vs {left:.0f} s real")
        # Named: the process and the destination driving it.
        info = final["info"]
        self.assertIn("python", drift_info.get("driver_process", "") +
                      info.get("driver_process", ""))
        self.assertIn(site.dest, [d["key"] for d in final.get("destinations", [])])
        self.assertIn(site.dest, info.get("driver_destination", "") + info.get("explanation", ""))
        print(f"\nleak: drifting {left:.0f} s before exhaustion, ETA then {eta:.0f} s; "
              f"final: {info['explanation']}")

    def check_storm(self, site):
        failure = self.event(site.name, "exhausted")
        ramp = self.event(site.name, "ramp")
        self.assertIsNotNone(ramp, "the storm's ramp never started")
        seen = [d["info"] for d in site.seen]
        ramping = [i for i in seen if ramp["unix_ms"] <= int(i["last_seen_unix_ms"])
                   < failure["unix_ms"]]
        # A flag that began before the ramp (the estimate's start-up) does not count.
        flagged = [i for i in ramping
                   if i["state"] in FLAGGED and "TIME_WAIT" in i.get("churn_explanation", "")
                   and int(i["state_since_unix_ms"]) >= ramp["unix_ms"]]
        self.assertTrue(flagged, "the TIME_WAIT storm was never flagged with a churn "
                        "explanation naming TIME_WAIT before connects failed")
        info = flagged[0]
        lead = (failure["unix_ms"] - int(info["last_seen_unix_ms"])) / 1000
        self.assertGreaterEqual(lead, 120, f"storm flagged only {lead:.0f} s before the first "
                                f"EADDRNOTAVAIL: {info}")
        self.assertIn(site.dest, info["churn_explanation"],
                      f"the churn was not traced to its destination: {info}")
        self.assertEqual(info.get("time_wait_seconds"), TIME_WAIT_S, info)
        # The process behind it: the load client (python), seen toward the destination, not the
        # collector or the watcher, which hold the host's other ephemeral ports.
        self.assertIn("python", info.get("churn_process", ""), info)
        self.assertTrue(info.get("churn_process_inferred"), info)
        self.assertIn("(likely python", info["churn_explanation"], info)
        # The storm's TIME_WAITs were judged by the churn model, not as a leak.
        self.assertTrue(info.get("at_risk") or info["state"] != "HOST_STATE_DRIFTING", info)
        # At the failure the model knew the churn no longer fits.
        around = [i for i in seen if abs(int(i["last_seen_unix_ms"]) - failure["unix_ms"]) <= 5_000]
        self.assertTrue(any(i["state"] in ("HOST_STATE_CRITICAL", "HOST_STATE_EXHAUSTED")
                            for i in around),
                        f"not critical or exhausted at the failure: {[i['state'] for i in around]}")
        after = [i for i in ramping if int(i["last_seen_unix_ms"]) >= int(info["last_seen_unix_ms"])]
        share = sum(i["state"] in FLAGGED for i in after) / len(after)
        ramp_s = (failure["unix_ms"] - ramp["unix_ms"]) / 1000
        print(f"storm: flagged {lead:.0f} s before the first EADDRNOTAVAIL (ramp {ramp_s:.0f} s, "
              f"{failure['rate']:.2f}/s at failure), flagged in {share:.0%} of answers from then; "
              f"first: {info['reason']}; {info['churn_explanation']}")


if __name__ == "__main__":
    unittest.main()

"""The Windows agent's data path into a real collector: the mingw-w64 build of portwatch-agent.exe
runs under Wine for several intervals and writes its reports with --output-log; report_replay
streams them over real mutual TLS with a Windows host's certificate; the query API
(portwatchctl) must then show that host as Windows, with the Tcpip settings written into the Wine
prefix's registry before the run, its sockets and its top-K lists.

What this proves: what the Windows code builds (sockets from GetTcpTable2 / GetExtendedTcpTable
under Wine, the registry reader, the config snapshot, the report JSON) passes the collector's
validation and lands where an operator looks. What Wine cannot give (owner PIDs are always 0,
no WMI MSFT_NetTCPSetting) shows as Wine gives it: processes are "(unattributed)" and the range
is netsh's or the documented default, as the report says.
"""
import json
import os
import random
import signal
import socket
import subprocess
import unittest

from harness import ProcessTestCase, wait_for, CTL

HOST = "win01"
REPLAY = os.environ.get("PORTWATCH_REPLAY", "")
CROSS_SCRIPT = os.environ.get("PORTWATCH_WINDOWS_CROSS_SCRIPT", "")
CROSS_DIR = os.environ.get("PORTWATCH_WINDOWS_CROSS_DIR", "")
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TCPIP = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
# Values a Windows admin sets against port exhaustion; none is Wine's default (absent).
SETTINGS = {"TcpTimedWaitDelay": 45, "MaxUserPort": 30000, "TcpNumConnections": 12345}
HELD = 12  # connections held toward one destination from ports inside the dynamic range


class WindowsAgentIntoCollectorTest(ProcessTestCase):

    def wine(self, *argv, timeout=60):
        return subprocess.run(["wine", *argv], env=self.wine_env, capture_output=True,
                              timeout=timeout)

    def setUp(self):
        super().setUp()
        self.exe = os.path.join(CROSS_DIR, "agent", "src", "windows", "portwatch-agent.exe")
        for what, path in [("PORTWATCH_REPLAY", REPLAY), ("the cross-built agent", self.exe),
                           ("PORTWATCH_CTL", CTL)]:
            if not path or not os.path.exists(path):
                self.fail(f"{what} ({path!r}) missing; run this test through ctest after "
                          "windows.cross_build")
        r = subprocess.run(["bash", CROSS_SCRIPT, "prefix", SOURCE_DIR, CROSS_DIR],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wine_env = dict(os.environ, WINEPREFIX=r.stdout.strip(), WINEDEBUG="-all",
                             WINEARCH="win64", DISPLAY="", WINEDLLOVERRIDES="mscoree,mshtml=")
        # Last cleanup: the prefix's wineserver (and anything still running in it) goes.
        self.addCleanup(subprocess.run, ["wineserver", "-k"], env=self.wine_env,
                        capture_output=True)

    def set_tcpip(self):
        for name, value in SETTINGS.items():
            r = self.wine("reg", "add", TCPIP, "/v", name, "/t", "REG_DWORD", "/d", str(value),
                          "/f")
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
            # The prefix is shared with the other Windows tests: leave it as it was.
            self.addCleanup(self.wine, "reg", "delete", TCPIP, "/v", name, "/f")

    def hold_connections(self):
        """HELD connections to one listener, from local ports inside 49152-65535 (the dynamic
        range on Vista and later, and the range Wine's Windows reports or is assumed to have),
        so they count as ephemeral and make one known destination."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(HELD)
        self.addCleanup(srv.close)
        clients = []
        for port in random.sample(range(50000, 61000), 400):
            if len(clients) == HELD:
                break
            c = socket.socket()
            try:
                c.bind(("127.0.0.1", port))
                c.connect(srv.getsockname())
            except OSError:
                c.close()
                continue
            a, _ = srv.accept()
            clients.append(c)
            self.addCleanup(c.close)
            self.addCleanup(a.close)
        self.assertEqual(len(clients), HELD, "could not bind enough local ports in 50000-60999")
        return srv.getsockname()[1]

    def test_reports_of_the_windows_agent_pass_the_collector(self):
        self.set_tcpip()
        listen_port = self.hold_connections()
        pki = self.make_pki(os.path.join(self.tmp, "pki"), HOST, operators=["portwatchctl"])
        col = self.start_collector(pki)

        out = os.path.join(self.tmp, "reports.jsonl")
        win_out = self.wine("winepath", "-w", out).stdout.decode().strip()
        # `env` execs wine in place, so the PID registered is the agent's; the prefix is the
        # one whose registry was written, not the user's default.
        wine_vars = [f"{k}={self.wine_env[k]}" for k in
                     ("WINEPREFIX", "WINEDEBUG", "WINEARCH", "DISPLAY", "WINEDLLOVERRIDES")]
        agent = self.start("windows-agent", ["env", *wine_vars, "wine", self.exe, "run",
                                             "--output-log", win_out, "--host-name", HOST,
                                             "--interval", "1s", "--top-k", "50"])

        def reports():
            if agent.poll() is not None:
                raise AssertionError(f"agent exited {agent.returncode}: "
                                     f"{self.log_of('windows-agent')}")
            if not os.path.exists(out):
                return 0
            with open(out, "rb") as f:
                n = f.read().count(b"\n")
            return n if n >= 3 else 0
        wait_for(reports, timeout=90, interval=0.2, what="three reports from the Windows agent")
        agent.send_signal(signal.SIGINT)  # Wine delivers it as Ctrl-C
        try:
            agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()

        with open(out) as f:
            lines = [json.loads(line) for line in f if line.endswith("\n")]
        self.assertGreaterEqual(len(lines), 3)
        self.assertEqual([r["sequence"] for r in lines], list(range(1, len(lines) + 1)))
        self.assertEqual(lines[0]["agent"]["os"], "windows")

        r = subprocess.run([REPLAY, "--target", f"127.0.0.1:{col['grpc_port']}",
                            "--ca", f"{pki}/ca.pem", "--cert", f"{pki}/agents/{HOST}.pem",
                            "--key", f"{pki}/agents/{HOST}.key", "--input", out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), f"acked {len(lines)}")

        # The collector acknowledges a report once it is stored and hands it to fleet state just
        # after: the query may answer from before the newest report for a moment.
        def newest_in_fleet_state():
            rc, text, err = self.ctl(pki, col["grpc_port"], "--json", "host", HOST)
            self.assertEqual(rc, 0, err)
            detail = json.loads(text)
            seq = int(detail.get("last_report", {}).get("sequence", 0))
            return detail if seq == lines[-1]["sequence"] else None
        detail = wait_for(newest_in_fleet_state, timeout=30, interval=0.2,
                          what=f"report {lines[-1]['sequence']} in the collector's fleet state")
        info = detail["info"]
        self.assertEqual(info["os"], "OS_KIND_WINDOWS")
        self.assertIn("Windows", info["os_version"])
        self.assertGreater(info["ports_usable"], 0)
        self.assertGreaterEqual(info["ports_in_use"], HELD)
        # Wine has no MSFT_NetTCPSetting: the range is netsh's, or the documented default, and
        # the report says which (an assumed one flagged as such).
        source = info.get("ephemeral_range_source")
        self.assertIn(source, ("netsh", "assumed_default"), info)
        self.assertEqual(info.get("ephemeral_range_assumed", False), source == "assumed_default")
        self.assertFalse(info.get("ephemeral_range_auto_reuse", False))

        values = {v["key"]: v for v in detail["config"]["values"]}
        for name, value in SETTINGS.items():
            self.assertEqual(int(values[f"Tcpip.{name}"].get("int_value", 0)), value,
                             values.get(f"Tcpip.{name}"))
        self.assertIn("Tcpip.DynamicPortRange.Source", values)

        last = detail["last_report"]
        states = {(s.get("family"), s.get("state")): s["count"] for s in
                  last["sockets"]["states"]}
        self.assertGreaterEqual(states.get(("ADDRESS_FAMILY_IPV4", "TCP_STATE_ESTABLISHED"), 0),
                                2 * HELD)
        self.assertGreaterEqual(states.get(("ADDRESS_FAMILY_IPV4", "TCP_STATE_LISTEN"), 0), 1)
        dest = f"127.0.0.1:{listen_port}"
        series = {d["key"]: d for d in detail["destinations"]}
        self.assertIn(dest, series, list(series))
        self.assertGreaterEqual(series[dest]["ports"], HELD)
        self.assertTrue(detail["processes"], "no process series")
        self.assertIn("(unattributed)", [p["key"] for p in detail["processes"]])

        # The table an operator reads shows the same.
        rc, text, err = self.ctl(pki, col["grpc_port"], "host", HOST)
        self.assertEqual(rc, 0, err)
        self.assertIn("Tcpip.TcpTimedWaitDelay", text)
        self.assertIn(f"range from {source}", text)
        self.assertIn(dest, text)


if __name__ == "__main__":
    unittest.main()

"""The status page in a real headless Chromium, served by a real collector fed over mutual TLS by
two stand-in agents (status_feeder): one leaks ports toward one destination on compressed analysis
time, one stays flat; one also sends HTML and script in a process name and its versions.

Asserted in the DOM Chromium built: the drifting host is listed first with its state, ETA and
driver; the host page's SVG curve has one point per stored report, a capacity line, a forecast line
and its band; hostile names are text, never markup. Screenshots are saved as test artefacts
(build/test-artifacts/status-page/), and the JSON API agrees with the page."""
import html.parser
import json
import os
import shutil
import subprocess
import urllib.request

from harness import COLLECTOR, ProcessTestCase

FEEDER = os.environ.get("PORTWATCH_FEEDER", "")
REPORTS = 250
HOSTILE = "<script>alert('pw')</script><b>x</b>"
# An analysis hour is 6 s: the leak below (about 20 s to fill the range) reads as drifting.
SCALE = str(1.0 / 600)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


class Dom(html.parser.HTMLParser):
    """Elements with their attributes and text, from the DOM Chromium dumped."""

    def __init__(self, text):
        super().__init__()
        self.elements = []  # (tag, attrs dict, [text])
        self._open = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        e = (tag, dict(attrs), [])
        self.elements.append(e)
        if tag not in ("br", "input", "meta", "line", "polyline", "polygon", "img"):
            self._open.append(e)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for e in self._open:
            e[2].append(data)

    def find(self, tag=None, **attrs):
        return [e for e in self.elements if (tag is None or e[0] == tag)
                and all(e[1].get(k.rstrip("_")) == v for k, v in attrs.items())]

    @staticmethod
    def text(e):
        return " ".join("".join(e[2]).split())


class StatusPageTest(ProcessTestCase):
    def chromium(self, *args):
        """Runs headless Chromium once with a fresh profile; returns its stdout."""
        exe = shutil.which("chromium")
        if not exe:
            self.fail("chromium is not installed (scripts/install-deps.sh test installs it)")
        profile = os.path.join(self.tmp, f"chromium-{len(self.procs)}")
        p = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, f"chromium {args} failed")
        return out.decode()

    def feed(self, pki, port, host, *extra):
        return self.start(f"feeder-{host}", [
            FEEDER, "--target", f"127.0.0.1:{port}", "--ca", f"{pki}/ca.pem",
            "--cert", f"{pki}/agents/{host}.pem", "--key", f"{pki}/agents/{host}.key",
            "--hostname", host, "--reports", str(REPORTS), "--interval-ms", "50", *extra])

    def get_text(self, url):
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    def get_json(self, url):
        return json.loads(self.get_text(url))

    def test_fleet_and_host_pages_in_chromium(self):
        if not FEEDER or not os.path.exists(FEEDER):
            self.fail("PORTWATCH_FEEDER is not set; run this test through ctest")
        pki = self.make_pki(os.path.join(self.tmp, "pki"), "leaky", "steady",
                            operators=["portwatchctl"])
        col = self.start_collector(pki, extra=["--ui-listen", "127.0.0.1:0",
                                               "--analysis-time-scale", SCALE,
                                               # stays listed as it was, not silent, once fed
                                               "--silent-after", "1000h"])
        ui = f"http://127.0.0.1:{col['ui_port']}"
        self.assertGreater(col["ui_port"], 0)
        steady = self.feed(pki, col["grpc_port"], "steady", "--start-ports", "150",
                           "--process", "steady-app", "--destination", "10.0.9.9:443")
        leaky = self.feed(pki, col["grpc_port"], "leaky", "--start-ports", "100", "--step", "2",
                          "--hostile")
        for p, name in ((leaky, "leaky"), (steady, "steady")):
            self.assertEqual(p.wait(timeout=120), 0, self.log_of(f"feeder-{name}"))

        api = self.get_json(f"{ui}/api/hosts")
        self.assertEqual([h["host"] for h in api["hosts"]], ["leaky", "steady"], api)
        self.assertEqual(api["hosts"][0]["state"], "drifting", api)
        self.assertEqual(api["hosts"][1]["state"], "ok", api)
        self.assertEqual(api["state_counts"]["drifting"], 1)

        art = os.path.join(os.environ.get("PORTWATCH_BUILD_DIR", self.tmp), "test-artifacts",
                           "status-page")
        os.makedirs(art, exist_ok=True)

        # Fleet view: worst first, with state, ETA and driver in the row.
        fleet = Dom(self.chromium("--dump-dom", f"{ui}/"))
        rows = fleet.find("tr", class_="host")
        self.assertEqual([r[1]["data-host"] for r in rows], ["leaky", "steady"])
        first = rows[0]
        cells = [e for e in fleet.elements[fleet.elements.index(first):] if e[0] == "td"][:7]
        by_class = {c[1].get("class", "").split()[0]: Dom.text(c) for c in cells}
        self.assertEqual(by_class["state"], "drifting")
        self.assertRegex(by_class["eta"], r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC \((in .+|.+ ago)\)$")
        self.assertEqual(by_class["driver"], "leaky-app \u2192 10.0.4.12:1433")
        self.assertEqual(first[1]["data-state"], "drifting")
        # The hostile process name is listed among the top processes, as text.
        procs = [Dom.text(e) for e in fleet.find("td")]
        self.assertIn(HOSTILE, procs)
        self.assertEqual(fleet.find("script"), [])
        self.assertEqual(fleet.find("b"), [])
        # Filters by state and by name (server-rendered: the HTML itself is the page).
        ok_only = Dom(self.get_text(f"{ui}/?state=ok"))
        self.assertEqual([r[1]["data-host"] for r in ok_only.find("tr", class_="host")],
                         ["steady"])
        named = Dom(self.get_text(f"{ui}/?q=eak"))
        self.assertEqual([r[1]["data-host"] for r in named.find("tr", class_="host")], ["leaky"])
        # The policy audit on the fleet page: the counts the query API gives, worst first, each
        # row linking to its host.
        rc, out, err = self.ctl(pki, col["grpc_port"], "--json", "violations")
        self.assertEqual(rc, 0, err)
        violations = json.loads(out).get("violations", [])
        self.assertGreater(len(violations), 0, "the fed port range is narrower than the policy's")
        counts = fleet.find("p", id="policy-counts")
        self.assertEqual(len(counts), 1)
        for sev in ("critical", "warning", "info"):
            want = sum(1 for v in violations if v["severity"] == f"POLICY_SEVERITY_{sev.upper()}")
            self.assertEqual(int(counts[0][1][f"data-{sev}"]), want, (sev, violations))
        shown = [e for e in fleet.elements if e[0] == "tr" and "data-severity" in e[1]]
        self.assertEqual(len(shown), min(len(violations), 10))
        rank = {"critical": 2, "warning": 1, "info": 0}
        severities = [rank[r[1]["data-severity"]] for r in shown]
        self.assertEqual(severities, sorted(severities, reverse=True))
        links = [e[1]["href"] for e in fleet.find("a") if e[1].get("href", "").startswith("/host/")]
        cells = [Dom.text(e) for e in fleet.find("td")]
        for v in violations if len(violations) <= 10 else []:
            self.assertIn(f"/host/{v['host']}", links)
            self.assertIn(" ".join(v["detail"].split()), cells)  # what was found, as text
        self.chromium("--window-size=1100,700", f"--screenshot={art}/fleet.png", f"{ui}/")

        # Host view: one curve point per stored report, capacity, forecast and its band.
        page = Dom(self.chromium("--dump-dom", f"{ui}/host/leaky"))
        curve = page.find("polyline", id="curve")
        self.assertEqual(len(curve), 1)
        self.assertEqual(len(curve[0][1]["points"].split()), REPORTS)
        self.assertEqual(curve[0][1]["data-points"], str(REPORTS))
        self.assertEqual(len(page.find("line", id="capacity")), 1)
        forecast = page.find("line", id="forecast")
        self.assertEqual(len(forecast), 1)
        # The forecast starts where the curve ends (x) and reaches the capacity line (y).
        last_x = float(curve[0][1]["points"].split()[-1].split(",")[0])
        self.assertAlmostEqual(float(forecast[0][1]["x1"]), last_x, delta=1.0)
        self.assertEqual(forecast[0][1]["y2"], page.find("line", id="capacity")[0][1]["y1"])
        self.assertEqual(len(page.find("polygon", id="forecast-interval")), 1)
        for series in ("time-wait", "established"):
            self.assertEqual(page.find("polyline", id=series)[0][1]["data-points"], str(REPORTS))
        explanation = Dom.text(page.find("p", id="explanation")[0])
        # The headline is the host's range or the destination, whichever fills first.
        self.assertRegex(explanation, r"^leaky: .*full in ~.*driven by leaky-app")
        self.assertIn("10.0.4.12:1433", explanation)
        self.assertEqual(Dom.text(page.find("td", id="driver")[0]),
                         "leaky-app \u2192 10.0.4.12:1433")
        self.assertIn(HOSTILE, [Dom.text(e) for e in page.find("td")])
        self.assertEqual(page.find("script"), [])
        self.assertEqual(page.find("b"), [])
        # The absent setting is marked as the OS default.
        absent = page.find("tr", class_="absent")
        self.assertEqual(len(absent), 1)
        self.assertIn("net.ipv4.tcp_fin_timeout", Dom.text(absent[0]))
        self.assertIn("OS default", Dom.text(absent[0]))
        self.chromium("--window-size=1100,1500", f"--screenshot={art}/host.png",
                      f"{ui}/host/leaky")
        for png in ("fleet.png", "host.png"):
            with open(os.path.join(art, png), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

        # The JSON API says the same; an unknown host is a 404 with what to do.
        host = self.get_json(f"{ui}/api/host/leaky")
        self.assertEqual(host["info"]["driver_process"], "leaky-app")
        self.assertEqual(len(host["history"]), REPORTS)
        self.assertTrue(host["info"]["forecast"]["finite"])
        # portwatchctl on the same collector: `top` exits 1 while a host drifts, tables are
        # worst first, hostile text is escaped, and the fixed clock gives stable ages.
        rc, out, err = self.ctl(pki, col["grpc_port"], "top")
        self.assertEqual(rc, 1, err)
        self.assertRegex(out, r"(?m)^leaky\s+drifting\s")
        self.assertNotIn("steady", out)
        last_seen = api["hosts"][0]["last_seen_unix_ms"]
        rc, out, err = self.ctl(pki, col["grpc_port"], "--utc", "--now",
                                str(last_seen + 3 * 3600 * 1000), "host", "leaky")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"last report (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC, 3 h ago")
        self.assertIn("<script>alert('pw')</script><b>x</b>", out)  # text, no control chars
        self.assertNotIn("\x1b", out)
        rc, out, err = self.ctl(pki, col["grpc_port"], "hosts")
        self.assertEqual(rc, 0, err)
        self.assertLess(out.index("leaky"), out.index("steady"))

        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{ui}/host/no-such-host", timeout=10)
        self.assertEqual(e.exception.code, 404)
        self.assertIn("No host", e.exception.read().decode())
        # Read-only: nothing but GET is served.
        req = urllib.request.Request(f"{ui}/", data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertGreaterEqual(e.exception.code, 400)

        # A taken status page port is a clear start-up error that leaves no database behind.
        db = os.path.join(self.tmp, "second.db")
        p = self.start("collector-taken", [
            COLLECTOR, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--ui-listen", f"127.0.0.1:{col['ui_port']}", "--ca", f"{pki}/ca.pem",
            "--cert", f"{pki}/collector.pem", "--key", f"{pki}/collector.key", "--db", db])
        self.assertEqual(p.wait(timeout=30), 2)
        log = self.log_of("collector-taken")
        self.assertIn("cannot serve the status page", log)
        self.assertIn("--ui-listen", log)
        self.assertFalse(os.path.exists(db))


if __name__ == "__main__":
    import unittest
    unittest.main()

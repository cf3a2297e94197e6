"""End to end, the collector's web endpoints secured by --web-config-file (the Prometheus exporters'
web config format): a real Prometheus scrapes /metrics over TLS with a client certificate and
basic auth, and clients that lack the password, the certificate or TLS 1.2 are refused, on
/metrics and on the status page alike. A bad web config file stops the collector before it
starts anything."""
import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import unittest
import urllib.error
import urllib.parse
import urllib.request
import warnings

from harness import COLLECTOR, ProcessTestCase, db_rows, wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # libcrypt's crypt(3), as the collector uses: bcrypt hashes ($2b$)

PROMETHEUS = os.environ.get("PORTWATCH_PROMETHEUS") or shutil.which("prometheus") or ""
GOOD = "web01"
USER, PASSWORD = "prometheus", "s3cret pass"


def bcrypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))


class WebConfigTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD, operators=("scraper",))
        self.other = self.make_pki(os.path.join(self.tmp, "other-pki"), "intruder")
        self.web = os.path.join(self.tmp, "web.yml")
        # Relative paths: resolved against the web config file's directory, as the exporters do.
        with open(self.web, "w") as f:
            f.write("tls_server_config:\n"
                    "  cert_file: pki/collector.pem\n"
                    "  key_file: pki/collector.key\n"
                    "  client_ca_file: pki/ca.pem\n"
                    "  client_auth_type: RequireAndVerifyClientCert\n"
                    "  min_version: TLS12\n"
                    "basic_auth_users:\n"
                    f"  {USER}: {bcrypt(PASSWORD)}\n"
                    f"  other: {bcrypt('another')}\n")

    def start_secured(self):
        col = self.start_collector(self.pki, extra=("--web-config-file", self.web,
                                                    "--ui-listen", "127.0.0.1:0"))
        self.start_agent(self.pki, GOOD, col["grpc_port"])
        return col

    def context(self, cert="operators/scraper", pki=None, max_version=None):
        ctx = ssl.create_default_context(cafile=f"{self.pki}/ca.pem")
        if cert:
            pki = pki or self.pki
            ctx.load_cert_chain(f"{pki}/{cert}.pem", f"{pki}/{cert}.key")
        if max_version:
            # Let this client offer old protocols at all, so a refusal is the server's.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = max_version
        return ctx

    def get(self, port, path, ctx, user=USER, password=PASSWORD):
        """(status, body) of an HTTPS GET; HTTP errors are returned, TLS refusals raise."""
        req = urllib.request.Request(f"https://localhost:{port}{path}")
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
                return r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers

    def assert_refused_handshake(self, port, ctx):
        """The TLS connection is refused: no HTTP response is ever read."""
        with self.assertRaises((ssl.SSLError, ConnectionResetError, urllib.error.URLError)) as cm:
            self.get(port, "/metrics", ctx)
        return cm.exception

    def test_prometheus_scrapes_over_tls_with_client_cert_and_basic_auth(self):
        if not os.path.exists(PROMETHEUS):
            self.fail("prometheus not found: install Debian's prometheus package "
                      "(scripts/install-deps.sh test) or set PORTWATCH_PROMETHEUS")
        col = self.start_secured()
        tls = {"ca_file": f"{self.pki}/ca.pem", "cert_file": f"{self.pki}/operators/scraper.pem",
               "key_file": f"{self.pki}/operators/scraper.key"}
        target = {"targets": [f"localhost:{col['metrics_port']}"]}
        jobs = [{"job_name": "portwatch", "scheme": "https", "tls_config": tls,
                 "basic_auth": {"username": USER, "password": PASSWORD},
                 "static_configs": [target]},
                {"job_name": "wrong-password", "scheme": "https", "tls_config": tls,
                 "basic_auth": {"username": USER, "password": "guess"},
                 "static_configs": [target]},
                {"job_name": "no-client-cert", "scheme": "https",
                 "tls_config": {"ca_file": f"{self.pki}/ca.pem"},
                 "basic_auth": {"username": USER, "password": PASSWORD},
                 "static_configs": [target]}]
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            json.dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}, f)
        p = self.start("prometheus", [PROMETHEUS, "--config.file", config,
                                      "--storage.tsdb.path", os.path.join(self.tmp, "tsdb"),
                                      "--web.listen-address", "127.0.0.1:0"])

        def prom_port():
            if p.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log_of('prometheus')}")
            m = re.search(r'msg="Listening on" address=127\.0\.0\.1:(\d+)',
                          self.log_of("prometheus"))
            return m and int(m.group(1))
        prom = f"http://127.0.0.1:{wait_for(prom_port, what='prometheus listening')}"

        def targets():
            try:
                with urllib.request.urlopen(f"{prom}/api/v1/targets", timeout=2) as r:
                    active = json.load(r)["data"]["activeTargets"]
            except (urllib.error.URLError, OSError, ValueError):
                return None
            by_job = {t["labels"]["job"]: t for t in active}
            if len(by_job) == 3 and all(t["health"] != "unknown" for t in by_job.values()):
                return by_job
            return None
        by_job = wait_for(targets, timeout=30, what="prometheus scraped every job")
        self.assertEqual(by_job["portwatch"]["health"], "up", by_job["portwatch"]["lastError"])
        self.assertEqual(by_job["wrong-password"]["health"], "down")
        self.assertIn("401", by_job["wrong-password"]["lastError"])
        self.assertEqual(by_job["no-client-cert"]["health"], "down")

        # What Prometheus stored came through the secured endpoint: the agent's host.
        def host_series():
            q = urllib.parse.urlencode({"query": f'portwatch_host_info{{host="{GOOD}"}}'})
            with urllib.request.urlopen(f"{prom}/api/v1/query?{q}", timeout=5) as r:
                return json.load(r)["data"]["result"]
        wait_for(host_series, timeout=30, what="prometheus stored the host's series")

    def test_refusals_on_metrics_and_status_page(self):
        col = self.start_secured()
        wait_for(lambda: db_rows(os.path.join(self.tmp, "collector.db"),
                                 "SELECT 1 FROM hosts WHERE host = ?", GOOD),
                 what="the agent's first report")
        ok = self.context()
        for port, path, expect in [(col["metrics_port"], "/metrics", "portwatch_ingest_streams"),
                                   (col["ui_port"], "/api/hosts", GOOD)]:
            with self.subTest(path=path):
                status, body, _ = self.get(port, path, ok)
                self.assertEqual(status, 200)
                self.assertIn(expect, body)
                for user, password in [(USER, "wrong"), ("other", PASSWORD), ("nobody", "x"),
                                       (None, None)]:
                    status, body, headers = self.get(port, path, ok, user, password)
                    self.assertEqual(status, 401, (user, password))
                    self.assertNotIn(expect, body)
                    self.assertIn("Basic", headers.get("WWW-Authenticate", ""))
                # No client certificate, or one from another CA: no HTTP exchange at all.
                self.assert_refused_handshake(port, self.context(cert=None))
                self.assert_refused_handshake(port, self.context("agents/intruder", self.other))
                # TLS 1.1 (and older) is refused by the server, while the same client with
                # TLS 1.2 is served: the refusal is the protocol version.
                err = self.assert_refused_handshake(
                    port, self.context(max_version=ssl.TLSVersion.TLSv1_1))
                self.assertRegex(str(err), r"(?i)protocol.version|unsupported.protocol|alert")
                status, _, _ = self.get(port, path,
                                        self.context(max_version=ssl.TLSVersion.TLSv1_2))
                self.assertEqual(status, 200)
                # Plain HTTP on the TLS port gets no metrics.
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    try:
                        answer = s.recv(65536)
                    except (ConnectionResetError, socket.timeout):
                        answer = b""
                    self.assertNotIn(expect.encode(), answer)

    def test_a_bad_web_config_file_stops_the_collector_before_anything_starts(self):
        cases = [
            ("tls_server_config:\n  cert_file: pki/collector.pem\n  key_file: pki/collector.key\n"
             "  min_version: TLS11\n", "min_version"),
            ("tls_server_config:\n  cert_file: pki/missing.pem\n  key_file: pki/collector.key\n",
             "cert_file"),
            ("tls_server_config:\n  cert_file: pki/collector.pem\n  key_file: pki/ca.key\n",
             "key_file"),
            ("tls_server_config:\n  cert_file: pki/collector.pem\n  key_file: pki/collector.key\n"
             "  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file"),
            ("basic_auth_users:\n  prometheus: hunter2\n", "basic_auth_users.prometheus"),
            ("basic_auth:\n  prometheus: x\n", "basic_auth"),
        ]
        for i, (text, field) in enumerate(cases):
            with self.subTest(field=field):
                with open(self.web, "w") as f:
                    f.write(text)
                db = os.path.join(self.tmp, f"bad{i}.db")
                ready = os.path.join(self.tmp, f"bad{i}.ready")
                r = subprocess.run([COLLECTOR, "--listen", "127.0.0.1:0", "--metrics-listen",
                                    "127.0.0.1:0", "--ca", f"{self.pki}/ca.pem", "--cert",
                                    f"{self.pki}/collector.pem", "--key",
                                    f"{self.pki}/collector.key", "--db", db, "--ready-file", ready,
                                    "--web-config-file", self.web], capture_output=True,
                                   timeout=30)
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 2, err)
                self.assertIn(self.web, err)
                self.assertIn(field, err)
                self.assertFalse(os.path.exists(db), "the database was created")
                self.assertFalse(os.path.exists(ready), "the collector got ready")


if __name__ == "__main__":
    unittest.main()

"""Revocation and rotation with real mutual TLS and certificates made by deploy/pki/pki.sh.

A refused peer never reaches fleet state, the database or the metrics; a healthy agent's stream
survives every reload (it connects once and keeps being acknowledged); new connections see new
files within the collector's --tls-reload-interval.
"""
import os
import re
import subprocess
import unittest

from harness import CTL, PROBE, ProcessTestCase, db_rows, wait_for

PKI_TOOL = os.environ.get("PORTWATCH_PKI_TOOL", "")
GOOD, BAD = "good01", "bad01"


def openssl(*args, timeout=30, **kw):
    return subprocess.run(["openssl", *args], capture_output=True, timeout=timeout, **kw)


def not_after_unix(pem):
    out = openssl("x509", "-in", pem, "-noout", "-enddate").stdout.decode().strip()
    date = out.split("=", 1)[1]
    return int(subprocess.run(["date", "-d", date, "+%s"], capture_output=True, check=True)
               .stdout.decode())


def read(path):
    with open(path) as f:
        return f.read()


def serial_of(pem):
    return openssl("x509", "-in", pem, "-noout", "-serial").stdout.decode().strip().split("=")[1]


class PkiTestCase(ProcessTestCase):
    def setUp(self):
        super().setUp()
        if not PKI_TOOL or not os.path.exists(PKI_TOOL):
            self.fail("PORTWATCH_PKI_TOOL is not set to deploy/pki/pki.sh; run through ctest")
        self.pki = os.path.join(self.tmp, "pki")

    def tool(self, *args, check=True):
        r = subprocess.run([PKI_TOOL, "--dir", self.pki, *args], capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"pki.sh {' '.join(args)} failed: {r.stderr.decode()}")
        return r

    def hosts_pki(self, *hosts):
        self.tool("init")
        self.tool("collector")
        for h in hosts:
            self.tool("host", h)

    def start_pki_collector(self, listen="127.0.0.1:0"):
        # The harness's collector takes DIR/collector.pem and the CA; the CRL is pki.sh's.
        return self.start_collector(self.pki, listen=listen,
                                    extra=("--crl", f"{self.pki}/crl.pem",
                                           "--tls-reload-interval", "1s"))

    def start_host_agent(self, host, port, name):
        # pki.sh keeps hosts in DIR/hosts; the harness expects DIR/agents.
        os.makedirs(f"{self.pki}/agents", exist_ok=True)
        for ext in ("pem", "key"):
            link = f"{self.pki}/agents/{host}.{ext}"
            if not os.path.lexists(link):
                os.symlink(f"{self.pki}/hosts/{host}.{ext}", link)
        return self.start_agent(self.pki, host, port, name=name)

    def reports(self, host):
        rows = db_rows(os.path.join(self.tmp, "collector.db"),
                       "SELECT reports_total FROM hosts WHERE host = ?", host)
        return rows[0][0] if rows else 0

    def probe(self, cert, host, sequence=1, port=None, timeout=10):
        port = port or self.col["grpc_port"]
        r = subprocess.run([PROBE, "--target", f"127.0.0.1:{port}",
                            "--ca", f"{self.pki}/ca.pem", "--cert", f"{cert}.pem",
                            "--key", f"{cert}.key", "--hostname", host, "--sequence", str(sequence),
                            "--collected-now", "--timeout", str(timeout)],
                           capture_output=True, timeout=30)
        return r.returncode, r.stdout.decode(errors="replace").strip()

    def metrics(self):
        return self.scrape(self.col["metrics_port"])

    def assert_nothing_from(self, host):
        self.assertEqual(self.reports(host), 0, f"{host} reached the database")
        text = self.metrics()
        self.assertNotIn(f'host="{host}"', text, f"{host} reached the metrics")

    def assert_streams_once(self, name):
        # The agent logs each connection it makes: one line means its stream was never dropped.
        connects = re.findall(r"connected to collector", self.log_of(name))
        self.assertEqual(len(connects), 1, f"{name} reconnected:\n{self.log_of(name)}")

    def assert_still_acked(self, host):
        before = self.reports(host)
        wait_for(lambda: self.reports(host) >= before + 2, what=f"{host}'s reports acknowledged")


class PkiToolTest(PkiTestCase):
    """The fleet tooling, run for real: what it issues is what the collector expects."""

    def test_issue_revoke_renew_and_expiry_listing(self):
        self.tool("init")
        self.assertNotEqual(self.tool("init", check=False).returncode, 0,
                            "init must refuse to replace an existing CA")
        self.tool("host", "web01")
        self.tool("operator", "alice")
        self.tool("collector", "collector.example", "10.0.0.5")
        host = f"{self.pki}/hosts/web01.pem"
        text = openssl("x509", "-in", host, "-noout", "-ext",
                       "subjectAltName,extendedKeyUsage").stdout.decode()
        self.assertIn("DNS:web01", text)
        self.assertIn("TLS Web Client Authentication", text)
        op = openssl("x509", "-in", f"{self.pki}/operators/alice.pem", "-noout", "-ext",
                     "subjectAltName").stdout.decode()
        self.assertIn("URI:urn:portwatch:operator:alice", op)
        self.assertNotIn("DNS:", op)
        col = openssl("x509", "-in", f"{self.pki}/collector.pem", "-noout", "-ext",
                      "subjectAltName,extendedKeyUsage").stdout.decode()
        self.assertIn("DNS:collector.example", col)
        self.assertIn("IP Address:10.0.0.5", col)
        self.assertIn("TLS Web Server Authentication", col)
        for pem in (host, f"{self.pki}/operators/alice.pem", f"{self.pki}/collector.pem"):
            v = openssl("verify", "-CAfile", f"{self.pki}/ca.pem", pem)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertNotEqual(self.tool("host", "bad name", check=False).returncode, 0)

        # Renew: a new key and serial, the same names and usage.
        old_serial, old_key = serial_of(host), read(f"{self.pki}/hosts/web01.key")
        self.tool("renew", host, "--days", "90")
        self.assertNotEqual(serial_of(host), old_serial)
        self.assertNotEqual(read(f"{self.pki}/hosts/web01.key"), old_key)
        renewed = openssl("x509", "-in", host, "-noout", "-ext",
                          "subjectAltName,extendedKeyUsage").stdout.decode()
        self.assertIn("DNS:web01", renewed)
        self.assertIn("TLS Web Client Authentication", renewed)

        # Revoke: the serial is in a CRL signed by the CA, and openssl refuses the certificate.
        serial = serial_of(host)
        self.tool("revoke", host, "--reason", "keyCompromise")
        crl = openssl("crl", "-in", f"{self.pki}/crl.pem", "-CAfile", f"{self.pki}/ca.pem",
                      "-noout", "-text")
        self.assertEqual(crl.returncode, 0, crl.stderr)
        self.assertIn(f"Serial Number: {serial}", crl.stdout.decode())
        v = openssl("verify", "-crl_check", "-CAfile", f"{self.pki}/ca.pem", "-CRLfile",
                    f"{self.pki}/crl.pem", host)
        self.assertNotEqual(v.returncode, 0, "a revoked certificate verified")
        self.assertIn("revoked", (v.stdout + v.stderr).decode())
        listing = self.tool("list").stdout.decode()
        self.assertRegex(listing, rf"revoked +{serial}")

        # Expiry monitoring: an expired certificate is listed, valid ones are not.
        self.assertEqual(self.tool("expiring", "--days", "30", check=False).returncode, 0)
        self.tool("host", "old01", "--start", "20200101000000Z", "--end", "20200102000000Z")
        r = self.tool("expiring", "--days", "30", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hosts/old01.pem", r.stdout.decode())
        self.assertNotIn("hosts/web01.pem", r.stdout.decode())
        r = self.tool("expiring", "--days", "120", check=False)
        self.assertIn("hosts/web01.pem", r.stdout.decode(), "a 90-day certificate within 120 days")


class RefusedCertificateTest(PkiTestCase):
    """Certificates the collector must refuse, while a healthy agent keeps streaming."""

    def setUp(self):
        super().setUp()
        self.hosts_pki(GOOD, BAD)
        self.col = self.start_pki_collector()
        self.start_host_agent(GOOD, self.col["grpc_port"], "good")
        wait_for(lambda: self.reports(GOOD) >= 2, what="the healthy agent's first reports")

    def test_expired_certificate_is_refused(self):
        self.tool("host", "expired01", "--start", "20200101000000Z", "--end", "20200102000000Z")
        rc, out = self.probe(f"{self.pki}/hosts/expired01", "expired01")
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, r"^error 14\b", "refused in the handshake (UNAVAILABLE)")
        self.assert_nothing_from("expired01")
        self.assert_still_acked(GOOD)
        self.assert_streams_once("good")

    def test_revoked_certificate_refused_after_crl_reload_and_accepted_after_rotation(self):
        rc, out = self.probe(f"{self.pki}/hosts/{BAD}", BAD)
        self.assertEqual((rc, out), (0, "acked 1"), "control: the certificate works before")
        self.assertEqual(self.reports(BAD), 1)
        revoked_before = self.metric(self.metrics(), "portwatch_ingest_rejected_total",
                                     reason="certificate_revoked") or 0

        self.tool("revoke", f"{self.pki}/hosts/{BAD}.pem")
        wait_for(lambda: self.metric(self.metrics(),
                                     "portwatch_collector_crl_revoked_certificates") == 1,
                 what="the collector to reload the CRL")
        rc, out = self.probe(f"{self.pki}/hosts/{BAD}", BAD)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, r"^error 14\b")
        self.assertEqual(self.reports(BAD), 1, "a revoked certificate's report was stored")
        self.assertEqual(self.metric(self.metrics(), "portwatch_ingest_rejected_total",
                                     reason="certificate_revoked"), revoked_before + 1)
        self.assertIn("is revoked by the CRL", self.log_of("collector"))
        self.assert_still_acked(GOOD)

        # A broken CRL on disk is refused on reload; the one in force stays.
        for ext in ("pem", "key"):
            os.link(f"{self.pki}/hosts/{BAD}.{ext}", f"{self.tmp}/revoked.{ext}")
        with open(f"{self.pki}/crl.pem", "w") as f:
            f.write("not a CRL\n")
        wait_for(lambda: self.metric(self.metrics(), "portwatch_collector_tls_reloads_total",
                                     file="crl", result="error") == 1,
                 what="the broken CRL to be refused")
        rc, out = self.probe(f"{self.tmp}/revoked", BAD)
        self.assertRegex(out, r"^error 14\b", "the revocation must survive a broken CRL file")
        self.tool("crl")

        # Rotation: a new certificate for the same host is a new serial, accepted at once.
        self.tool("host", BAD)
        rc, out = self.probe(f"{self.pki}/hosts/{BAD}", BAD, sequence=2)
        self.assertEqual((rc, out), (0, "acked 2"))
        self.assertEqual(self.reports(BAD), 2)
        self.assert_still_acked(GOOD)
        self.assert_streams_once("good")

    def test_crl_reload_ends_the_revoked_certificates_open_stream_only(self):
        self.start_host_agent(BAD, self.col["grpc_port"], "bad")
        wait_for(lambda: self.reports(BAD) >= 2, what="the agent to be revoked to stream")
        revoked_before = self.metric(self.metrics(), "portwatch_ingest_rejected_total",
                                     reason="certificate_revoked") or 0
        serial = serial_of(f"{self.pki}/hosts/{BAD}.pem")

        self.tool("revoke", f"{self.pki}/hosts/{BAD}.pem")
        # The stream it already has open ends at the reload (--tls-reload-interval 1s), with the
        # reason, without waiting for the agent to reconnect.
        ended = wait_for(lambda: re.search(
            r"stream to collector \S+ ended: (certificate revoked: [^\n]*) \(gRPC code (\d+)\)",
            self.log_of("bad")), timeout=10, what="the revoked agent's open stream to end")
        self.assertEqual(ended.group(2), "7", "PERMISSION_DENIED")
        # The serial as hex, however many leading zeros each side prints.
        self.assertRegex(ended.group(1), rf"serial 0*{serial.lstrip('0')} is revoked by the CRL")
        self.assertIn("ended 1 streams of revoked certificates", self.log_of("collector"),
                      "the collector cut exactly the revoked stream")
        self.assertGreaterEqual(self.metric(self.metrics(), "portwatch_ingest_rejected_total",
                                            reason="certificate_revoked"), revoked_before + 1)
        stored = self.reports(BAD)

        # The agent keeps reporting and retrying; none of it is stored from now on, while the
        # healthy agent's one stream keeps being acknowledged.
        self.assert_still_acked(GOOD)
        self.assert_still_acked(GOOD)
        self.assertEqual(self.reports(BAD), stored, "a report sent after the revocation was stored")
        self.assertEqual(len(re.findall(r"connected to collector", self.log_of("bad"))), 1,
                         "the revoked agent got a new stream")
        self.assert_streams_once("good")

    def test_revoked_operator_certificate_cannot_query(self):
        self.tool("operator", "portwatchctl")
        rc, out, err = self.ctl(self.pki, self.col["grpc_port"], "hosts")
        self.assertEqual(rc, 0, err)
        self.assertIn(GOOD, out, "control: the operator reads the fleet before")
        # A watch keeps one connection open across the revocation: its handshake predates the
        # CRL, so each call's certificate is checked against the CRL in force.
        op = f"{self.pki}/operators/portwatchctl"
        self.start("watch", [CTL, "--collector", f"127.0.0.1:{self.col['grpc_port']}", "--ca",
                             f"{self.pki}/ca.pem", "--cert", f"{op}.pem", "--key", f"{op}.key",
                             "--watch", "1", "hosts"])
        wait_for(lambda: GOOD in self.log_of("watch"), what="the watch's first answer")
        self.tool("revoke", f"{op}.pem")
        wait_for(lambda: self.metric(self.metrics(),
                                     "portwatch_collector_crl_revoked_certificates") == 1,
                 what="the collector to reload the CRL")
        rc, out, err = self.ctl(self.pki, self.col["grpc_port"], "hosts")
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn(GOOD, out, "a revoked operator read the fleet")
        refused = wait_for(lambda: len(re.findall("certificate revoked", self.log_of("watch"))) >= 2
                           and self.log_of("watch"), timeout=15,
                           what="the open watch's calls to be refused")
        after = refused[refused.index("certificate revoked"):]
        self.assertNotIn(GOOD, after, "the open watch read the fleet after the revocation")
        self.assert_still_acked(GOOD)
        self.assert_streams_once("good")

    def test_tls_1_1_is_refused_and_tls_1_2_accepted(self):
        def handshake(version):
            # SECLEVEL=0 lets this OpenSSL offer TLS 1.1 at all; the collector must still refuse.
            return openssl("s_client", "-connect", f"127.0.0.1:{self.col['grpc_port']}", version,
                           "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", f"{self.pki}/ca.pem",
                           "-cert", f"{self.pki}/hosts/{BAD}.pem",
                           "-key", f"{self.pki}/hosts/{BAD}.key", "-alpn", "h2", "-brief",
                           input=b"", timeout=30)
        old = handshake("-tls1_1")
        self.assertNotEqual(old.returncode, 0, old.stdout + old.stderr)
        self.assertNotIn(b"Protocol version: TLSv1.1", old.stdout + old.stderr)
        ok = handshake("-tls1_2")
        self.assertIn(b"Protocol version: TLSv1.2", ok.stdout + ok.stderr,
                      "control: the same client and certificate with TLS 1.2 get through")
        self.assert_nothing_from(BAD)
        self.assert_still_acked(GOOD)


class ClientTlsVersionTest(PkiTestCase):
    def test_the_agents_tls_client_refuses_a_tls_1_1_server(self):
        # The agent and portwatchctl share the probe's channel credentials (portwatch/tls.h).
        self.hosts_pki(GOOD)

        def server(version):
            name = f"s_server{version}"
            self.start(name, ["openssl", "s_server", "-accept", "127.0.0.1:0", version,
                              "-cipher", "DEFAULT:@SECLEVEL=0", "-cert", f"{self.pki}/collector.pem",
                              "-key", f"{self.pki}/collector.key", "-alpn", "h2", "-naccept", "1"],
                       stdin=subprocess.PIPE)  # s_server stops at the end of its input
            m = wait_for(lambda: re.search(r"ACCEPT 127\.0\.0\.1:(\d+)", self.log_of(name)),
                         what="openssl s_server to listen")
            return name, int(m.group(1))

        name, port = server("-tls1_1")
        rc, out = self.probe(f"{self.pki}/hosts/{GOOD}", GOOD, port=port, timeout=5)
        self.assertRegex(out, r"^error 14\b")
        wait_for(lambda: "unsupported protocol" in self.log_of(name),
                 what="the TLS 1.1 server to see the client refuse its protocol version")
        self.assertNotIn("Shared ciphers", self.log_of(name), "a TLS 1.1 session was established")
        name, port = server("-tls1_2")
        self.probe(f"{self.pki}/hosts/{GOOD}", GOOD, port=port, timeout=3)
        wait_for(lambda: "Shared ciphers" in self.log_of(name),
                 what="control: the same client completes a TLS 1.2 handshake")


class CrlStartupTest(PkiTestCase):
    def test_a_crl_from_another_ca_stops_the_collector_with_a_clear_error(self):
        self.hosts_pki(GOOD)
        other = os.path.join(self.tmp, "other")
        subprocess.run([PKI_TOOL, "--dir", other, "init"], check=True, capture_output=True)
        os.replace(f"{other}/crl.pem", f"{self.pki}/crl.pem")
        with self.assertRaises(AssertionError) as e:
            self.start_pki_collector()
        self.assertIn("is not signed by a CA in", str(e.exception))


class RotationTest(PkiTestCase):
    def setUp(self):
        super().setUp()
        self.hosts_pki(GOOD)
        self.col = self.start_pki_collector()
        self.start_host_agent(GOOD, self.col["grpc_port"], "good")
        wait_for(lambda: self.reports(GOOD) >= 2, what="the agent's first reports")

    def test_collector_certificate_rotated_on_disk_while_streams_continue(self):
        col_pem = f"{self.pki}/collector.pem"

        def served_serial():
            r = openssl("s_client", "-connect", f"127.0.0.1:{self.col['grpc_port']}",
                        "-CAfile", f"{self.pki}/ca.pem", "-cert", f"{self.pki}/hosts/{GOOD}.pem",
                        "-key", f"{self.pki}/hosts/{GOOD}.key", "-alpn", "h2",
                        input=b"", timeout=30)
            cert = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=r.stdout,
                                  capture_output=True).stdout.decode().strip()
            return cert.split("=")[1] if "=" in cert else None

        self.assertEqual(served_serial(), serial_of(col_pem))
        self.assertEqual(self.metric(self.metrics(),
                                     "portwatch_collector_certificate_expiry_timestamp_seconds"),
                         not_after_unix(col_pem))
        self.tool("renew", col_pem, "--days", "400")
        new_serial = serial_of(col_pem)
        wait_for(lambda: served_serial() == new_serial, timeout=15,
                 what="new connections to be served the renewed certificate")
        wait_for(lambda: self.metric(
            self.metrics(), "portwatch_collector_certificate_expiry_timestamp_seconds") ==
            not_after_unix(col_pem), what="the collector's expiry metric to follow the file")
        self.assert_still_acked(GOOD)
        self.assert_streams_once("good")

    def test_agent_presents_its_renewed_certificate_on_the_next_stream(self):
        host_pem = f"{self.pki}/hosts/{GOOD}.pem"
        name = "portwatch_agent_certificate_expiry_timestamp_seconds"
        wait_for(lambda: self.metric(self.metrics(), name, host=GOOD) == not_after_unix(host_pem),
                 what="the agent certificate's expiry in the metrics")
        self.tool("renew", host_pem, "--days", "500")
        # Nothing forces a reconnect but a collector restart (the same port and database).
        self.stop(self.col["proc"])
        port = self.col["grpc_port"]
        self.col = self.start_pki_collector(listen=f"127.0.0.1:{port}")
        wait_for(lambda: self.metric(self.metrics(), name, host=GOOD) == not_after_unix(host_pem),
                 timeout=40, what="the renewed certificate's expiry after the agent reconnects")
        self.assertIn("reloaded the TLS certificate", self.log_of("good"))


if __name__ == "__main__":
    unittest.main()

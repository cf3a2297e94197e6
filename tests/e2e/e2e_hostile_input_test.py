"""End to end, as a hostile agent certificate or local user would try it (issue: security and
hostile input): a real collector, a real agent for a legitimate host, and ingest_probe sending what
no well-behaved agent sends. Each test checks that nothing of the hostile input reached fleet
state, the database or the metrics beyond what is allowed, and that the legitimate agent kept
being acknowledged meanwhile."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

from harness import AGENT, COLLECTOR, PROBE, ProcessTestCase, db_rows, wait_for

GOOD = "web01"
EVIL = "evil01"
BIG = (1 << 63) + 5


def sql_sequence(seq):
    """How the collector stores an unsigned sequence: the same 64 bits as SQLite's signed
    integer."""
    return seq - (1 << 64) if seq >= (1 << 63) else seq


class HostileInputTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD, EVIL)
        self.col = self.start_collector(self.pki)
        self.db = os.path.join(self.tmp, "collector.db")
        self.start_agent(self.pki, GOOD, self.col["grpc_port"])
        wait_for(lambda: self.good_reports() >= 2, what="the legitimate agent's first reports")

    def probe(self, *args, host=EVIL, cert=EVIL, port=None):
        r = subprocess.run([PROBE, "--target", f"127.0.0.1:{port or self.col['grpc_port']}",
                            "--ca", f"{self.pki}/ca.pem", "--cert", f"{self.pki}/agents/{cert}.pem",
                            "--key", f"{self.pki}/agents/{cert}.key", "--hostname", host, *args],
                           capture_output=True, timeout=30)
        return r.returncode, r.stdout.decode(errors="replace").strip()

    def good_reports(self):
        rows = db_rows(self.db, "SELECT reports_total FROM hosts WHERE host = ?", GOOD)
        return rows[0][0] if rows else 0

    def assert_good_agent_still_acked(self):
        before = self.good_reports()
        wait_for(lambda: self.good_reports() >= before + 2, what="the legitimate agent's reports")

    def host_metric(self, name, host=EVIL):
        return self.metric(self.scrape(self.col["metrics_port"]), name, host=host)

    def test_over_long_text_is_cut_and_unknown_fields_never_stored(self):
        # Finding 1: argv[0] over 4,096 bytes used to get the whole report refused. Finding 2: the
        # raw message, unknown fields and all, used to be stored.
        rc, out = self.probe("--sequence", "1", "--collected-now", "--process-name",
                             "evil\n\x1b[2Jname", "--program-bytes", "5000",
                             "--degraded-reason-bytes", "500000",
                             "--unknown-field-bytes", "400000")
        self.assertEqual((rc, out), (0, "acked 1"))
        (size,), = db_rows(self.db, "SELECT length(report) FROM reports WHERE host = ?", EVIL)
        self.assertLess(size, 8192, "only the bounded, re-serialized known fields are stored")
        text = self.scrape(self.col["metrics_port"])
        self.assertGreaterEqual(self.metric(text, "portwatch_ingest_adjusted_total",
                                            what="text_truncated"), 1)
        self.assertGreaterEqual(self.metric(text, "portwatch_ingest_adjusted_total",
                                            what="text_escaped"), 1)
        self.assertNotIn("\x1b", text)
        self.assertNotIn("A" * 1025, text)
        self.assert_good_agent_still_acked()

    def test_future_timestamp_does_not_freeze_the_host(self):
        # Finding 3: after one report dated a day ahead, later reports were ignored, also after a
        # restart.
        rc, out = self.probe("--sequence", "1", "--collected-now", "--collected-offset-ms",
                             str(86400 * 1000), "--in-use", "7")
        self.assertEqual((rc, out), (0, "acked 1"))
        rc, out = self.probe("--sequence", "2", "--collected-now", "--in-use", "9")
        self.assertEqual((rc, out), (0, "acked 2"))
        wait_for(lambda: self.host_metric("portwatch_host_ephemeral_ports_in_use") == 9,
                 what="the newer report to be the host's latest")
        self.assertEqual(self.metric(self.scrape(self.col["metrics_port"]),
                                     "portwatch_ingest_adjusted_total", what="clock_ahead"), 1)
        (collected,), = db_rows(self.db, "SELECT MAX(collected_ms) FROM reports WHERE host = ?",
                                EVIL)
        self.assertLess(collected, time.time() * 1000 + 60000, "no future date reached the db")
        self.assert_good_agent_still_acked()
        # And after a restart on the same database.
        self.stop(self.col["proc"])
        self.col = self.start_collector(self.pki, db=self.db, name="collector2")
        self.assertEqual(self.host_metric("portwatch_host_ephemeral_ports_in_use"), 9)
        rc, out = self.probe("--sequence", "3", "--collected-now", "--in-use", "11")
        self.assertEqual((rc, out), (0, "acked 3"))
        wait_for(lambda: self.host_metric("portwatch_host_ephemeral_ports_in_use") == 11,
                 what="a report after the restart to be the latest")

    def test_sequences_above_two_to_the_sixty_third(self):
        # Finding 3: sequence numbers >= 2^63 were stored as negative numbers.
        for seq in (3, BIG, BIG + 1):
            rc, out = self.probe("--sequence", str(seq), "--collected-now")
            self.assertEqual((rc, out), (0, f"acked {seq}"))
        self.stop(self.col["proc"])
        self.col = self.start_collector(self.pki, db=self.db, name="collector2")
        rc, out = self.probe("--sequence", str(BIG), "--collected-now")  # stored before
        self.assertEqual((rc, out), (0, f"acked {BIG}"))
        rc, out = self.probe("--sequence", str(BIG + 2), "--collected-now")
        self.assertEqual((rc, out), (0, f"acked {BIG + 2}"))
        seqs = [r[0] for r in db_rows(self.db, "SELECT sequence FROM reports WHERE host = ? "
                                      "ORDER BY id", EVIL)]
        self.assertEqual(seqs, [sql_sequence(s) for s in (3, BIG, BIG + 1, BIG + 2)])
        (mark,), = db_rows(self.db, "SELECT max_sequence FROM instances WHERE host = ?", EVIL)
        self.assertEqual(mark, sql_sequence(BIG + 2))
        self.assertEqual(self.host_metric("portwatch_host_reports_duplicate_total"), 1)

    def test_text_in_logs_is_escaped_and_parse_failures_are_counted(self):
        # Finding 8: a newline in a hello forged collector log lines; a message that failed to
        # parse ended its stream silently.
        rc, out = self.probe("--sequence", "1", host=GOOD + "\nportwatch-collector: forged line")
        self.assertTrue(out.startswith("error 7:"), out)  # PERMISSION_DENIED
        rc, out = self.probe("--sequence", "1", "--invalid-utf8", "--collected-now")
        self.assertTrue(out.startswith("error 3:"), out)  # INVALID_ARGUMENT
        text = self.scrape(self.col["metrics_port"])
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="unparsable_message"), 1)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="host_mismatch"), 1)
        log = self.log_of("collector")
        self.assertNotIn("\nportwatch-collector: forged line", log)
        self.assertIn("\\nportwatch-collector: forged line", log)
        self.assertIn("unparsable_message", log)
        self.assertEqual(db_rows(self.db, "SELECT COUNT(*) FROM reports WHERE host = ?", EVIL),
                         [(0,)])
        self.assertEqual(db_rows(self.db, "SELECT COUNT(*) FROM hosts WHERE host LIKE '%forged%'"),
                         [(0,)])
        self.assert_good_agent_still_acked()



class HostAllowListTest(ProcessTestCase):
    """--allow-hosts: a certificate the fleet CA signed for a name outside the patterns cannot add
    a host."""

    def test_hosts_outside_the_allow_list_are_refused(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD, EVIL, "API1.prod.example.com")
        col = self.start_collector(pki, extra=("--allow-hosts", "web??,*.prod.example.com"))
        db = os.path.join(self.tmp, "collector.db")
        port = col["grpc_port"]
        self.start_agent(pki, GOOD, port)

        def probe(host):
            r = subprocess.run([PROBE, "--target", f"127.0.0.1:{port}", "--ca", f"{pki}/ca.pem",
                                "--cert", f"{pki}/agents/{host}.pem", "--key",
                                f"{pki}/agents/{host}.key", "--hostname", host,
                                "--collected-now"], capture_output=True, timeout=30)
            return r.stdout.decode().strip()

        for _ in range(3):
            out = probe(EVIL)
            self.assertTrue(out.startswith("error 7:"), out)  # PERMISSION_DENIED
            self.assertIn("--allow-hosts", out)
        self.assertEqual(probe("API1.prod.example.com"), "acked 1")  # case-insensitive match
        text = self.scrape(col["metrics_port"])
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="host_not_allowed"), 3)
        self.assertIsNone(self.metric(text, "portwatch_host_info", host=EVIL))
        self.assertEqual(db_rows(db, "SELECT COUNT(*) FROM hosts WHERE host = ?", EVIL), [(0,)])
        self.assertEqual(db_rows(db, "SELECT COUNT(*) FROM reports WHERE host = ?", EVIL), [(0,)])
        log = self.log_of("collector")
        self.assertIn("refused (host_not_allowed): evil01", log)
        before = db_rows(db, "SELECT reports_total FROM hosts WHERE host = ?", GOOD)[0][0]
        wait_for(lambda: db_rows(db, "SELECT reports_total FROM hosts WHERE host = ?",
                                 GOOD)[0][0] >= before + 2, what="the legitimate agent's reports")

    def test_a_bad_pattern_is_a_configuration_error(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD)
        db = os.path.join(self.tmp, "bad.db")
        r = subprocess.run([COLLECTOR, "--listen", "127.0.0.1:0", "--metrics-listen",
                            "127.0.0.1:0", "--ca", f"{pki}/ca.pem", "--cert",
                            f"{pki}/collector.pem", "--key", f"{pki}/collector.key", "--db", db,
                            "--allow-hosts", "web01,web 02"], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--allow-hosts pattern 'web 02'", r.stderr.decode())
        self.assertFalse(os.path.exists(db))



class ReportRateTest(ProcessTestCase):
    """--max-reports-per-second-per-host: one certificate sending reports as fast as it can is
    paced (its reports are read later), never refused, while other agents keep being acked."""

    def test_a_flooding_host_is_paced_and_loses_nothing(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD, EVIL)
        rate, burst, n = 40, 20, 120
        col = self.start_collector(pki, extra=("--max-reports-per-second-per-host", str(rate),
                                               "--report-burst-per-host", str(burst)))
        db = os.path.join(self.tmp, "collector.db")
        port = col["grpc_port"]
        self.start_agent(pki, GOOD, port)

        def good_reports():
            rows = db_rows(db, "SELECT reports_total FROM hosts WHERE host = ?", GOOD)
            return rows[0][0] if rows else 0
        wait_for(lambda: good_reports() >= 1, what="the legitimate agent's first report")
        before = good_reports()
        r = subprocess.run([PROBE, "--target", f"127.0.0.1:{port}", "--ca", f"{pki}/ca.pem",
                            "--cert", f"{pki}/agents/{EVIL}.pem", "--key",
                            f"{pki}/agents/{EVIL}.key", "--hostname", EVIL, "--collected-now",
                            "--sequence", "1", "--flood", str(n), "--timeout", "60"],
                           capture_output=True, timeout=90)
        out = r.stdout.decode().strip()
        m = re.match(r"flood acked (\d+) in (\d+) ms \(status 0\)", out)
        self.assertTrue(m, out + r.stderr.decode())
        # Every report acked and stored: pacing delays, it never drops.
        self.assertEqual(int(m.group(1)), n)
        self.assertEqual(db_rows(db, "SELECT COUNT(*) FROM reports WHERE host = ?", EVIL), [(n,)])
        # The host got no more than its burst plus the rate: the n reports took at least
        # (n - burst) / rate seconds (here 2.5 s), less a margin for the first token's timing.
        self.assertGreaterEqual(int(m.group(2)), (n - burst) / rate * 1000 * 0.8, out)
        text = self.scrape(col["metrics_port"])
        self.assertGreater(self.metric(text, "portwatch_ingest_adjusted_total",
                                       what="rate_paced") or 0, 0)
        self.assertIsNone(self.metric(text, "portwatch_ingest_rejected_total",
                                      reason="store_overloaded"))
        self.assertIn(f"adjusted (rate_paced): {EVIL}", self.log_of("collector"))
        # The agent reporting every 200 ms was acked throughout the flood.
        self.assertGreaterEqual(good_reports(), before + 5)



# A local, unprivileged process whose comm is not UTF-8 (and holds a terminal escape), holding
# enough sockets to be among the agent's top processes.
HOSTILE_COMM_CHILD = r"""
import socket, sys
with open("/proc/self/comm", "wb") as f:
    f.write(b"\xff\xfe\x1b[2Jx")
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(64)
held = []
for _ in range(40):
    c = socket.create_connection(l.getsockname()); s, _ = l.accept(); held += [c, s]
print("ready", flush=True)
sys.stdin.read()
"""


class HostileLocalProcessTest(ProcessTestCase):
    """Finding 1 on the agent side, with real processes and the real socket table."""

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kw)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        return p

    def test_hostile_process_names_do_not_cost_the_report(self):
        bad_comm = self.spawn([sys.executable, "-c", HOSTILE_COMM_CHILD])
        self.assertEqual(bad_comm.stdout.readline().strip(), b"ready")
        # A process whose argv[0] is 5,000 bytes, holding 40 inherited sockets.
        l = socket.socket()
        l.bind(("127.0.0.1", 0))
        l.listen(64)
        held = []
        for _ in range(20):
            c = socket.create_connection(l.getsockname())
            held += [c, l.accept()[0]]
        long_argv = self.spawn(["A" * 5000, "1000"], executable="/bin/sleep",
                               pass_fds=[x.fileno() for x in held])
        for x in held + [l]:
            x.close()
        r = subprocess.run([AGENT, "snapshot", "--json", "--top-k", "1000"], capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        snap = json.loads(r.stdout.decode("utf-8"))  # strict: valid UTF-8
        by_pid = {p["pid"]: p for p in snap["processes"]["top"]}
        self.assertIn(bad_comm.pid, by_pid, "the process with a bad name is still attributed")
        self.assertEqual(by_pid[bad_comm.pid]["name"], "\ufffd\ufffd\\x1B[2Jx")
        self.assertIn(long_argv.pid, by_pid)
        program = by_pid[long_argv.pid]["program"]
        self.assertLessEqual(len(program.encode()), 1024)
        self.assertTrue(program.startswith("AAAA"))
        # The table form escapes too: no raw escape character reaches the terminal.
        r = subprocess.run([AGENT, "snapshot", "--top-k", "1000"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertNotIn(b"\x1b", r.stdout)


class FairnessTest(ProcessTestCase):
    """Finding 4: one certificate took every stream slot with streams that never sent a hello."""

    def test_hello_less_streams_cannot_lock_out_other_agents(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD, EVIL)
        col = self.start_collector(pki, extra=["--max-streams", "10", "--max-streams-per-host",
                                               "4", "--hello-timeout", "2s"])
        db = os.path.join(self.tmp, "collector.db")
        flood = subprocess.Popen(
            [PROBE, "--target", f"127.0.0.1:{col['grpc_port']}", "--ca", f"{pki}/ca.pem",
             "--cert", f"{pki}/agents/{EVIL}.pem", "--key", f"{pki}/agents/{EVIL}.key",
             "--hostname", EVIL, "--streams-without-hello", "20", "--timeout", "30"],
            stdout=subprocess.PIPE)
        self.addCleanup(lambda: flood.poll() is None and (flood.kill(), flood.wait()))
        mport = col["metrics_port"]
        wait_for(lambda: (self.metric(self.scrape(mport), "portwatch_ingest_rejected_total",
                                      reason="too_many_streams_for_host") or 0) >= 16,
                 what="the flood's streams beyond the per-host limit to be refused")
        # The flood holds 4 streams without hello; a legitimate agent still gets in, meanwhile.
        self.start_agent(pki, GOOD, col["grpc_port"])
        wait_for(lambda: (db_rows(db, "SELECT reports_total FROM hosts WHERE host = ?", GOOD)
                          or [(0,)])[0][0] >= 2, what="the legitimate agent's reports")
        out, _ = flood.communicate(timeout=30)
        # 16 refused at once (RESOURCE_EXHAUSTED), 4 closed at the hello deadline.
        self.assertEqual(sorted(out.decode().split("\n")), ["", "streams 4 4", "streams 8 16"])
        text = self.scrape(mport)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="hello_timeout"), 4)
        self.assertEqual(self.metric(text, "portwatch_ingest_streams"), 1)
        self.assertEqual(db_rows(db, "SELECT COUNT(*) FROM hosts WHERE host = ?", EVIL), [(0,)])


def issue_cert(pki, name, san, eku="clientAuth"):
    """A client certificate from the dev CA with exactly these SANs, for shapes make-dev-pki
    does not make (a URI SAN listed first, no DNS SAN)."""
    key, csr, ext, pem = (os.path.join(pki, f"{name}.{x}") for x in ("key", "csr", "ext", "pem"))
    subprocess.run(["openssl", "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-keyout", key, "-out", csr, "-subj",
                    f"/CN={name}"], check=True, capture_output=True)
    with open(ext, "w") as f:
        f.write(f"basicConstraints=critical,CA:FALSE\nextendedKeyUsage={eku}\n"
                f"subjectAltName={san}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", f"{pki}/ca.pem", "-CAkey",
                    f"{pki}/ca.key", "-CAcreateserial", "-out", pem, "-days", "2", "-extfile",
                    ext], check=True, capture_output=True)
    return pem[:-4]


class RolesTest(ProcessTestCase):
    """Finding 7: roles were told apart only by name."""

    def test_roles_come_from_the_certificate(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD, "portwatchctl",
                            operators=["portwatchctl"])
        col = self.start_collector(pki)
        db = os.path.join(self.tmp, "collector.db")
        port, mport = col["grpc_port"], col["metrics_port"]
        self.start_agent(pki, GOOD, port)

        def probe(cert, host):
            r = subprocess.run([PROBE, "--target", f"127.0.0.1:{port}", "--ca", f"{pki}/ca.pem",
                                "--cert", f"{cert}.pem", "--key", f"{cert}.key", "--hostname",
                                host, "--collected-now"], capture_output=True, timeout=30)
            return r.stdout.decode().strip()

        # An operator certificate on Ingest is refused: it never becomes host "portwatchctl".
        out = probe(f"{pki}/operators/portwatchctl", "portwatchctl")
        self.assertTrue(out.startswith("error 7:"), out)
        # An agent certificate for a host that happens to be called portwatchctl may report...
        self.assertEqual(probe(f"{pki}/agents/portwatchctl", "portwatchctl"), "acked 1")
        # ...but not query the fleet.
        rc, _, err = self.ctl(pki, port, "hosts", cert="agents/portwatchctl")
        self.assertNotEqual(rc, 0)
        self.assertIn("agent certificate", err)
        rc, stdout, err = self.ctl(pki, port, "hosts")  # the operator may
        self.assertEqual(rc, 0, err)
        # Only DNS SANs name hosts: a URI SAN listed first is not the host name, and a
        # certificate with no DNS SAN names no host at all.
        uri_first = issue_cert(pki, "urifirst", "URI:spiffe://fleet/evil,DNS:" + EVIL)
        self.assertEqual(probe(uri_first, EVIL), "acked 1")
        no_dns = issue_cert(pki, "nodns", "URI:spiffe://fleet/nodns,email:a@example.com")
        out = probe(no_dns, "nodns")
        self.assertTrue(out.startswith("error 7:"), out)
        text = self.scrape(mport)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="operator_certificate"), 1)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="no_host_name"), 1)
        self.assertEqual(self.metric(text, "portwatch_ingest_rejected_total",
                                     reason="query_not_allowed"), 1)
        hosts = sorted(r[0] for r in db_rows(db, "SELECT host FROM hosts"))
        self.assertEqual(hosts, sorted([GOOD, EVIL, "portwatchctl"]))
        self.assertIsNone(self.metric(text, "portwatch_host_info", host="spiffe://fleet/evil"))
        before = db_rows(db, "SELECT reports_total FROM hosts WHERE host = ?", GOOD)[0][0]
        wait_for(lambda: db_rows(db, "SELECT reports_total FROM hosts WHERE host = ?",
                                 GOOD)[0][0] >= before + 2, what="the legitimate agent's reports")


class MetricsEndpointTest(ProcessTestCase):
    """Finding 5: two idle TCP connections delayed a scrape by 29 s, four slow header-senders past
    45 s (prometheus-cpp's default of 2 threads and no request timeout)."""

    def test_idle_and_slow_clients_cannot_starve_a_scrape(self):
        pki = self.make_pki(os.path.join(self.tmp, "pki"), GOOD)
        col = self.start_collector(pki)
        mport = col["metrics_port"]
        clients = []
        for i in range(8):
            c = socket.create_connection(("127.0.0.1", mport))
            if i % 2:
                c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            clients.append(c)
        self.addCleanup(lambda: [c.close() for c in clients])
        # The scrape is answered while all eight hold their connections (urllib gives up at 5 s;
        # the old server held it for 29 s or more).
        text = self.scrape(mport)
        self.assertIn("portwatch_ingest_streams", text)


if __name__ == "__main__":
    unittest.main()

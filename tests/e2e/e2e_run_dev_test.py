"""The README's run command: scripts/run-dev.sh brings up a collector and an agent for this host
with certificates it makes, and its metrics pass promtool. Run here on free ports, without the
install and build steps (ctest runs after the build)."""
import json
import os
import re
import shutil
import socket
import subprocess
import unittest

from harness import ProcessTestCase, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class RunDevTest(ProcessTestCase):
    def test_run_dev_serves_this_host(self):
        env = dict(os.environ, PORTWATCH_NO_BUILD="1", PORTWATCH_LISTEN="127.0.0.1:0",
                   PORTWATCH_METRICS="127.0.0.1:0", PORTWATCH_INTERVAL="200ms",
                   PORTWATCH_RUN_DIR=os.path.join(self.tmp, "run"),
                   BUILD_DIR=os.environ["PORTWATCH_BUILD_DIR"])
        log = open(os.path.join(self.tmp, "run-dev.log"), "wb")
        p = subprocess.Popen([os.path.join(ROOT, "scripts", "run-dev.sh")], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))

        def metrics_url():
            if p.poll() is not None:
                raise AssertionError(f"run-dev.sh exited {p.returncode}: {self.log_of('run-dev')}")
            m = re.search(r"metrics at http://([\d.]+):(\d+)/metrics", self.log_of("run-dev"))
            return m and int(m.group(2))
        port = wait_for(metrics_url, what="run-dev.sh to print the metrics address")
        host = socket.gethostname()
        wait_for(lambda: self.metric(self.scrape(port), "portwatch_host_reports_total",
                                     host=host), what=f"a report from {host}")
        r = subprocess.run([shutil.which("promtool"), "check", "metrics"],
                           input=self.scrape(port).encode(), capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        # The printed portwatchctl line works as printed.
        m = re.search(r"ask it: (\S+portwatchctl .*hosts)$", self.log_of("run-dev"), re.M)
        self.assertIsNotNone(m, self.log_of("run-dev"))
        out = subprocess.run(m.group(1).split(), capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn(host, out.stdout.decode())
        # Ctrl-C equivalent: the script stops both processes and exits cleanly.
        with open(os.path.join(self.tmp, "run", "collector.ready")) as f:
            collector_pid = json.load(f)["pid"]
        self.assertEqual(self.stop(p), 0)
        wait_for(lambda: not os.path.exists(f"/proc/{collector_pid}"),
                 what="the collector started by run-dev.sh to exit")
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "run", "pki", "ca.pem")))


if __name__ == "__main__":
    unittest.main()

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
    def run_dev(self, **extra):
        env = dict(os.environ, PORTWATCH_NO_BUILD="1", PORTWATCH_LISTEN="127.0.0.1:0",
                   PORTWATCH_METRICS="127.0.0.1:0", PORTWATCH_INTERVAL="200ms",
                   PORTWATCH_RUN_DIR=os.path.join(self.tmp, "run"),
                   BUILD_DIR=os.environ["PORTWATCH_BUILD_DIR"], **extra)
        log = open(os.path.join(self.tmp, "run-dev.log"), "wb")
        p = subprocess.Popen([os.path.join(ROOT, "scripts", "run-dev.sh")], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        return p

    def test_run_dev_with_a_simulated_fleet(self):
        # The newcomer's fleet, on a faster clock than the README's default so the test is short.
        p = self.run_dev(PORTWATCH_SIM_HOSTS="40", PORTWATCH_SIM_SCALE="2400")

        def ctl_line():
            if p.poll() is not None:
                raise AssertionError(f"run-dev.sh exited {p.returncode}: {self.log_of('run-dev')}")
            m = re.search(r"ask it: (\S+portwatchctl .*) hosts$", self.log_of("run-dev"), re.M)
            return m and m.group(1).split()
        ctl = wait_for(ctl_line, what="run-dev.sh to print the portwatchctl line")
        self.assertIn("40 simulated hosts", self.log_of("run-dev"))

        def drifting():
            out = subprocess.run([*ctl, "top"], capture_output=True, timeout=30).stdout.decode()
            return re.search(r"^sim-\d+\s+(drifting|critical|exhausted)", out, re.M) and out
        out = wait_for(drifting, timeout=120, interval=1, what="a drifting simulated host")
        hosts = subprocess.run([*ctl, "hosts"], capture_output=True, timeout=30).stdout.decode()
        self.assertIn(socket.gethostname(), hosts)  # this host's own agent is there too
        self.assertIn("sim-00040", hosts, out)
        self.assertEqual(self.stop(p), 0)

    def test_run_dev_serves_this_host(self):
        p = self.run_dev()

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

#!/usr/bin/env python3
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `kavach proxy` and `kavach exec --network proxy`.

Usage: cli_egress_test.py path/to/kavach [unittest args]

An upstream HTTP server runs in this process on 127.0.0.1; the proxy is told
to connect there for the test names (--resolve). Exec tests need the process
backend and curl (KAVACH_CLI_TEST_ALLOW_NO_PROCESS=1 turns a missing backend
into a skip).
"""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

KAVACH = None
SECRET = "cli-egress-secret-93b2"


class Upstream:
    """Answers "ok <path>"; remembers the headers it received."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(dict(self.headers.items()))
                body = f"ok {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run(args, timeout=120, env=None):
    p = subprocess.run([KAVACH] + args, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


class StandaloneProxyTest(unittest.TestCase):
    def setUp(self):
        self.upstream = Upstream()
        self.dir = tempfile.mkdtemp()
        policy = {
            "egress": {
                "allow_hosts": ["up.test"],
                "allow_ports": [self.upstream.port],
                "schemes": {"up.test": "http"},
                "credentials": [{"host": "up.test", "header": "X-Key",
                                 "source": "env:CLI_EGRESS_TOKEN"}],
                "resolve": {"up.test": "127.0.0.1", "other.test": "127.0.0.1"},
            }
        }
        self.policy = os.path.join(self.dir, "egress.json")
        with open(self.policy, "w") as f:
            json.dump(policy, f)
        env = dict(os.environ, CLI_EGRESS_TOKEN=SECRET)
        self.proc = subprocess.Popen(
            [KAVACH, "proxy", "--policy", self.policy, "--listen", "127.0.0.1:0",
             "--ca-out", os.path.join(self.dir, "ca.pem")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.proc.stderr.readline().decode()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        self.assertIsNotNone(m, line)
        self.port = int(m.group(1))

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.upstream.close()
        shutil.rmtree(self.dir)

    def fetch(self, url, headers=None):
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{self.port}"}))
        req = urllib.request.Request(url, headers=headers or {})
        try:
            with opener.open(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_allow_inject_deny_and_log(self):
        status, body = self.fetch(f"http://up.test:{self.upstream.port}/a?x=1",
                                  {"X-Key": "caller"})
        self.assertEqual(status, 200)
        self.assertEqual(body, "ok /a?x=1\n")
        self.assertEqual(self.upstream.received[-1].get("X-Key"), SECRET)
        status, _ = self.fetch(f"http://other.test:{self.upstream.port}/")
        self.assertEqual(status, 403)
        self.assertEqual(len(self.upstream.received), 1)
        self.assertTrue(os.path.getsize(os.path.join(self.dir, "ca.pem")) > 0)
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=10)
        self.assertEqual(self.proc.returncode, 128 + signal.SIGTERM, err)
        records = [json.loads(l) for l in out.decode().splitlines()]
        self.assertEqual([(r["host"], r["status"]) for r in records],
                         [("up.test", 200), ("other.test", 403)])
        self.assertEqual(records[0]["path"], "/a")
        self.assertNotIn(SECRET, out.decode() + err.decode())


class ExecProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _, out, _ = run(["backends", "--json"])
        if not json.loads(out)[0]["available"]:
            if os.environ.get("KAVACH_CLI_TEST_ALLOW_NO_PROCESS"):
                raise unittest.SkipTest("process backend unavailable here")
            raise AssertionError("the process backend is unavailable")
        if not shutil.which("curl"):
            raise unittest.SkipTest("curl is not installed")

    def setUp(self):
        self.upstream = Upstream()

    def tearDown(self):
        self.upstream.close()

    def test_exec_reaches_only_the_allowed_host(self):
        port = self.upstream.port
        common = ["exec", "--json", "--network", "proxy", "--allow-host", "up.test",
                  "--allow-port", str(port), "--resolve", "up.test:127.0.0.1", "--"]
        rc, out, err = run(common + ["curl", "-sS", f"http://up.test:{port}/via-proxy"])
        j = json.loads(out)
        self.assertEqual(rc, 0, err)
        self.assertEqual(j["stdout"], "ok /via-proxy\n")
        net = [e for e in j["evidence"] if e["control"] == "namespace.net"]
        self.assertEqual(len(net), 1)
        self.assertTrue(net[0]["verified"])
        self.assertIn("mode proxy", net[0]["detail"])
        # Around the proxy: the host's 127.0.0.1 is not the sandbox's.
        rc, out, err = run(common + ["curl", "-sS", "--noproxy", "*", "--max-time", "5",
                                     f"http://127.0.0.1:{port}/direct"])
        self.assertNotEqual(json.loads(out)["exit_code"], 0)
        self.assertEqual(len(self.upstream.received), 1)

    def test_egress_flags_need_network_proxy(self):
        rc, _, err = run(["exec", "--allow-host", "a.test", "--", "/bin/true"])
        self.assertEqual(rc, 2, err)
        self.assertIn(b"--network proxy", err)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cli_egress_test.py path/to/kavach [unittest args]")
    KAVACH = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

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
        # Two connections, possibly served by two proxy threads: a request is
        # recorded after its response is relayed, so the records of separate
        # connections may come in either order.
        self.assertCountEqual([(r["host"], r["status"]) for r in records],
                              [("up.test", 200), ("other.test", 403)])
        self.assertEqual([r["path"] for r in records if r["host"] == "up.test"], ["/a"])
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


class ExecSecretsTest(unittest.TestCase):
    """--secret-env, --secret-file and --secret-stdin (direct injection)."""

    @classmethod
    def setUpClass(cls):
        _, out, _ = run(["backends", "--json"])
        if not json.loads(out)[0]["available"]:
            if os.environ.get("KAVACH_CLI_TEST_ALLOW_NO_PROCESS"):
                raise unittest.SkipTest("process backend unavailable here")
            raise AssertionError("the process backend is unavailable")

    def test_each_way_delivers_and_nothing_leaks(self):
        d = tempfile.mkdtemp()
        try:
            key_file = os.path.join(d, "file-secret")
            file_secret = "cli-file-secret-6d1e0a"
            with open(key_file, "w") as f:
                f.write(file_secret + "\n")
            audit = os.path.join(d, "audit.log")
            env = dict(os.environ, CLI_SECRET_TOKEN=SECRET,
                       KAVACH_AUDIT_KEY="0123456789abcdef0123456789abcdef")
            script = ("printf %s \"$API_KEY\" | od -An -v -w64 -tx1; "
                      "od -An -v -w64 -tx1 /run/secrets/token; stat -c %a /run/secrets/token; "
                      "read -r s; printf %s \"$s\" | od -An -v -w64 -tx1; "
                      "echo \"leak $API_KEY\"; for p in /proc/[0-9]*; do "
                      "tr '\\0' ' ' < $p/cmdline; echo; done | grep -cF -f /run/secrets/token")
            argv = ["exec", "--json", "--audit", audit,
                    "--secret-env", "API_KEY=env:CLI_SECRET_TOKEN",
                    "--secret-file", f"token=file:{key_file}",
                    "--secret-stdin", "env:CLI_SECRET_TOKEN", "--", "/bin/sh", "-c", script]
            rc, out, err = run(argv, env=env)
            self.assertNotIn(SECRET.encode(), out + err)
            self.assertNotIn(file_secret.encode(), out + err)
            j = json.loads(out)
            lines = j["stdout"].splitlines()
            hx = lambda s: s.encode().hex()
            self.assertEqual(lines[0].replace(" ", ""), hx(SECRET), j)
            self.assertEqual(lines[1].replace(" ", ""), hx(file_secret))
            self.assertEqual(lines[2], "400")
            self.assertEqual(lines[3].replace(" ", ""), hx(SECRET))
            self.assertEqual(lines[4], "leak [REDACTED:injected_secret]")
            self.assertEqual(lines[5], "0")  # in no process's argv inside
            points = {e["control"]: e["points"] for e in j["evidence"]}
            self.assertEqual(points.get("secrets.env"), -5)
            self.assertEqual(points.get("secrets.file"), -3)
            self.assertEqual(points.get("secrets.stdin"), -2)
            with open(audit, "rb") as f:
                log = f.read()
            self.assertIn(b'"exec"', log)
            self.assertNotIn(SECRET.encode(), log)
            self.assertNotIn(file_secret.encode(), log)
        finally:
            shutil.rmtree(d)

    def test_missing_source_is_named_without_a_value(self):
        env = dict(os.environ)
        env.pop("CLI_SECRET_MISSING", None)
        rc, out, err = run(["exec", "--secret-env", "API_KEY=env:CLI_SECRET_MISSING", "--",
                            "/bin/true"], env=env)
        self.assertNotEqual(rc, 0)
        self.assertIn(b"env:CLI_SECRET_MISSING", err)
        # A value where the source belongs is refused without being echoed.
        rc, out, err = run(["exec", "--secret-env", f"API_KEY={SECRET}", "--", "/bin/true"])
        self.assertNotEqual(rc, 0)
        self.assertIn(b"secrets[0].source", err)
        self.assertNotIn(SECRET.encode(), out + err)

    def test_help_lists_the_flags(self):
        _, out, _ = run(["exec", "--help"])
        for flag in (b"--secret-env", b"--secret-file", b"--secret-stdin"):
            self.assertIn(flag, out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cli_egress_test.py path/to/kavach [unittest args]")
    KAVACH = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

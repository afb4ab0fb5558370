#!/usr/bin/env python3
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of `kavach exec --backend wasm`.

Usage: cli_wasm_test.py path/to/kavach [unittest args]

The test modules are src/backend/wasm/testdata/*.c built with
clang --target=wasm32-wasi (Debian's clang, wasi-libc, libclang-rt-*-dev-wasm32);
the tests skip, saying why, when that toolchain or the wasm backend is missing.
Covers: argv/env/stdin/stdout/stderr and the exit status, --json's wasm fields,
--fuel (152, deterministic), a trap (134), --timeout (124), --memory, --dir,
and that the output gate and the audit chain work as for any backend.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

KAVACH = None
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend", "wasm",
                   "testdata")

# Built from pieces so this file itself does not look like a key to scanners.
FAKE_KEY = ("-----BEGIN " + "RSA PRIVATE KEY-----\n"
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
            "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
            "-----END " + "RSA PRIVATE KEY-----\n")


def run(args, stdin=None, timeout=120):
    p = subprocess.run([KAVACH] + args, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def toolchain_missing():
    if shutil.which("clang") is None:
        return "clang not installed"
    if not os.path.exists("/usr/include/wasm32-wasi/stdio.h"):
        return "wasi-libc not installed"
    if not glob.glob("/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a"):
        return "libclang-rt-*-dev-wasm32 not installed"
    return None


class WasmExecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = toolchain_missing()
        if why:
            raise unittest.SkipTest(why)
        _, out, _ = run(["backends", "--json"])
        wasm = [b for b in json.loads(out) if b.get("name", b.get("backend")) == "wasm"]
        if not wasm or not wasm[0]["available"]:
            raise unittest.SkipTest(f"wasm backend unavailable: {wasm}")
        cls.tmp = tempfile.mkdtemp(prefix="kavach-cli-wasm-")
        os.chmod(cls.tmp, 0o755)
        cls.mod = {}
        for name in ("hello", "guest"):
            out = os.path.join(cls.tmp, name + ".wasm")
            subprocess.run(["clang", "--target=wasm32-wasi", "-O2", "-o", out,
                            os.path.join(SRC, name + ".c")], check=True)
            os.chmod(out, 0o644)
            cls.mod[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def exec_json(self, args, **kw):
        rc, out, err = run(["exec", "--backend", "wasm", "--json"] + args, **kw)
        self.assertTrue(out, f"no JSON on stdout; rc={rc} stderr={err!r}")
        j = json.loads(out)
        return rc, j, err

    def test_argv_env_stdin_stdout_stderr_and_status(self):
        rc, out, err = run(["exec", "--backend", "wasm", "--env", "GREETING=hi there", "-i", "--",
                            self.mod["hello"], "a", "b c", "--stdin", "--exit", "7"],
                           stdin=b"from stdin\n")
        self.assertEqual(rc, 7, err)
        self.assertIn(b"hello from wasm\n", out)
        self.assertIn(b"argv[1]=a\nargv[2]=b c\n", out)
        self.assertIn(b"env:GREETING=hi there\n", out)
        self.assertIn(b"stdin:from stdin\n", out)
        self.assertEqual(err, b"to stderr\n")

    def test_relative_module_path_is_from_the_current_directory(self):
        p = subprocess.run([KAVACH, "exec", "--backend", "wasm", "--", "hello.wasm"],
                           cwd=self.tmp, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"hello from wasm", p.stdout)

    def test_json_has_the_wasm_fields(self):
        rc, j, err = self.exec_json(["--", self.mod["hello"]])
        self.assertEqual(rc, 0, err)
        self.assertEqual(j["backend"], "wasm")
        self.assertEqual(j["status"], 0)
        self.assertEqual(j["fuel_used"], 0)
        self.assertIs(j["fuel_exhausted"], False)
        self.assertIsNone(j["trap"])
        self.assertGreaterEqual(j["memory_pages_peak"], 1)
        controls = {e["control"] for e in j["evidence"] if e["verified"]}
        self.assertTrue({"wasm.engine", "wasm.memory_cap", "wasm.clean_env"} <= controls)

    def test_fuel_exhausted_is_152_and_deterministic(self):
        used = []
        for _ in range(2):
            rc, j, err = self.exec_json(["--fuel", "300000", "--", self.mod["guest"], "loop"])
            self.assertEqual(rc, 152, err)
            self.assertIs(j["fuel_exhausted"], True)
            self.assertEqual(j["fuel_used"], 300000)
            used.append(j["fuel_used"])
        rc, j, err = self.exec_json(["--fuel", "1000000000", "--", self.mod["guest"], "burn",
                                     "100000"])
        self.assertEqual(rc, 0, err)
        self.assertIs(j["fuel_exhausted"], False)
        self.assertGreater(j["fuel_used"], 100000)

    def test_trap_is_134_and_named(self):
        rc, j, err = self.exec_json(["--", self.mod["guest"], "trap"])
        self.assertEqual(rc, 134, err)
        self.assertIn("unreachable", j["trap"])
        # A module that exits 134 itself is no trap.
        rc, j, err = self.exec_json(["--", self.mod["guest"], "exit", "134"])
        self.assertEqual(rc, 134, err)
        self.assertIsNone(j["trap"])

    def test_timeout_is_124(self):
        rc, j, err = self.exec_json(["--timeout", "1000", "--", self.mod["guest"], "loop"])
        self.assertEqual(rc, 124, err)
        self.assertIs(j["timed_out"], True)

    def test_memory_cap(self):
        rc, j, err = self.exec_json(["--memory", "64", "--", self.mod["guest"], "memhog"])
        self.assertEqual(rc, 0, err)
        mib = int(j["stdout"].split("allocated-mib:")[1])
        self.assertLess(mib, 64)
        self.assertGreater(mib, 32)
        self.assertLessEqual(j["memory_pages_peak"], 1024)

    def test_dir_is_readable_and_writable_and_escapes_fail(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        os.chmod(d, 0o777)
        with open(os.path.join(d, "in.txt"), "w") as f:
            f.write("host data\n")
        with open(os.path.join(self.tmp, "secret.txt"), "w") as f:
            f.write("TOPSECRET\n")
        os.symlink(os.path.join(self.tmp, "secret.txt"), os.path.join(d, "link"))
        rc, out, err = run(["exec", "--backend", "wasm", "--dir", f"{d}:/data", "--",
                            self.mod["guest"], "read", "/data/in.txt"])
        self.assertEqual((rc, out), (0, b"read:host data\n"), err)
        rc, out, err = run(["exec", "--backend", "wasm", "--dir", f"{d}:/data", "--",
                            self.mod["guest"], "write", "/data/out.txt", "from guest"])
        self.assertEqual(rc, 0, err)
        with open(os.path.join(d, "out.txt")) as f:
            self.assertEqual(f.read(), "from guest")
        for path in ("/data/../secret.txt", "/data/link", self.tmp + "/secret.txt",
                     "/etc/passwd"):
            rc, out, err = run(["exec", "--backend", "wasm", "--dir", f"{d}:/data", "--",
                                self.mod["guest"], "read", path])
            self.assertEqual(rc, 1, (path, out, err))
            self.assertNotIn(b"TOPSECRET", out)

    def test_bad_module_is_a_clear_error(self):
        bad = os.path.join(self.tmp, "bad.wasm")
        with open(bad, "w") as f:
            f.write("#!/bin/sh\necho hi\n")
        rc, out, err = run(["exec", "--backend", "wasm", "--", bad])
        self.assertEqual(rc, 125, err)
        self.assertIn(b"invalid module", err)
        self.assertIn(b"INVALID_ARGUMENT", err)

    def test_wasm_flags_need_the_wasm_backend(self):
        rc, _, err = run(["exec", "--fuel", "10", "--", "/bin/true"])
        self.assertEqual(rc, 2, err)

    def test_gate_and_audit_work_as_for_any_backend(self):
        rc, out, err = run(["exec", "--backend", "wasm", "--no-gate", "--",
                            self.mod["hello"], FAKE_KEY])
        self.assertEqual(rc, 0, err)
        self.assertIn(b"PRIVATE KEY", out)
        key = os.path.join(self.tmp, "audit.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(os.urandom(32).hex().encode())
        log = os.path.join(self.tmp, "audit.log")
        rc, out, err = run(["exec", "--backend", "wasm", "--audit", log, "--audit-key", key, "--",
                            self.mod["hello"], FAKE_KEY])
        self.assertNotIn(FAKE_KEY.encode(), out, "the gate let a private key through")
        self.assertEqual(rc, 123, err)
        rc, out, err = run(["audit", "verify", "--key", key, log])
        self.assertEqual(rc, 0, (out, err))
        with open(log) as f:
            self.assertGreater(len(f.read().splitlines()), 1)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cli_wasm_test.py path/to/kavach [unittest args]")
    KAVACH = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

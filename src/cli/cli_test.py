#!/usr/bin/env python3
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the kavach binary.

Usage: cli_test.py path/to/kavach [unittest args]

Covers what a script calling kavach relies on: usage errors exit 2, kavach's
own failures exit 125 with the canonical code on stderr, --json output has
the documented shape, and `exec` mirrors the command's status and passes its
output through byte for byte. The exec tests need the process backend; when
`kavach backends` says it cannot run here they fail (set
KAVACH_CLI_TEST_ALLOW_NO_PROCESS=1 to turn that into a skip).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

KAVACH = None

REQUIRED_EXEC_KEYS = {
    "exit_code": int, "signal": int, "status": int, "stdout": str, "stderr": str,
    "stdout_truncated": bool, "stderr_truncated": bool, "timed_out": bool,
    "oom_killed": bool, "wall_ms": (int, float), "cpu_ms": (int, float),
    "peak_memory_bytes": int, "setup": list, "score": dict, "evidence": list,
    "verdict": str, "findings": list, "quarantine_id": str, "backend": str,
    "policy": str,
}

LABELS = [(0, 29, "minimal"), (30, 49, "basic"), (50, 69, "standard"),
          (70, 84, "hardened"), (85, 100, "fortress")]

# Built from pieces so this file itself does not look like a key to scanners.
FAKE_KEY = ("-----BEGIN " + "RSA PRIVATE KEY-----\n"
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
            "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
            "-----END " + "RSA PRIVATE KEY-----\n")


def run(args, stdin=None, timeout=120, preexec_fn=None, env=None):
    p = subprocess.run([KAVACH] + args, input=stdin, capture_output=True,
                       timeout=timeout, preexec_fn=preexec_fn, env=env)
    return p.returncode, p.stdout, p.stderr


def label_for(value):
    for lo, hi, name in LABELS:
        if lo <= value <= hi:
            return name
    return "unknown"


class UsageTest(unittest.TestCase):
    def assert_usage(self, args):
        rc, out, err = run(args)
        self.assertEqual(rc, 2, f"{args}: rc={rc} stderr={err!r}")
        self.assertTrue(err.strip(), f"{args}: no message on stderr")
        return err.decode(errors="replace")

    def test_no_arguments(self):
        self.assertIn("Usage", self.assert_usage([]))

    def test_unknown_command(self):
        self.assertIn("frobnicate", self.assert_usage(["frobnicate"]))

    def test_exec_without_command(self):
        self.assert_usage(["exec"])
        self.assert_usage(["exec", "--policy", "strict"])
        self.assert_usage(["exec", "--"])

    def test_exec_unknown_option(self):
        self.assertIn("--bogus", self.assert_usage(["exec", "--bogus", "--", "/bin/true"]))

    def test_exec_bad_values(self):
        self.assert_usage(["exec", "--timeout", "soon", "--", "/bin/true"])
        self.assert_usage(["exec", "--timeout", "0", "--", "/bin/true"])
        self.assert_usage(["exec", "--memory", "-5", "--", "/bin/true"])
        self.assert_usage(["exec", "--timeout"])
        self.assert_usage(["exec", "--network", "everywhere", "--", "/bin/true"])
        self.assert_usage(["exec", "--env", "NOEQUALS", "--", "/bin/true"])
        self.assert_usage(["exec", "--env", "=v", "--", "/bin/true"])
        self.assert_usage(["exec", "--ro", "/no/such/path/kavach", "--", "/bin/true"])
        self.assert_usage(["exec", "--workdir", "/no/such/dir/kavach", "--", "/bin/true"])

    def test_exec_unknown_backend_and_policy(self):
        self.assertIn("nope", self.assert_usage(["exec", "--backend", "nope", "--", "/bin/true"]))
        self.assert_usage(["exec", "--policy", "nope", "--", "/bin/true"])
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write('{"no_such_key": 1}')
            f.flush()
            self.assertIn("no_such_key",
                          self.assert_usage(["exec", "--policy", f.name, "--", "/bin/true"]))

    def test_other_commands(self):
        self.assert_usage(["backends", "--bogus"])
        self.assert_usage(["score", "--backend", "nope"])
        self.assert_usage(["score", "--policy", "nope"])
        self.assert_usage(["score", "extra-positional"])


class InfoTest(unittest.TestCase):
    def test_version(self):
        rc, out, _ = run(["--version"])
        self.assertEqual(rc, 0)
        self.assertRegex(out.decode(), r"^kavach \d+\.\d+\.\d+\n$")

    def test_help_documents_exit_codes(self):
        for args in (["--help"], ["help"]):
            rc, out, _ = run(args)
            self.assertEqual(rc, 0)
            text = out.decode()
            for word in ("exec", "backends", "score", "123", "124", "125", "126", "127"):
                self.assertIn(word, text)

    def test_command_help(self):
        for args in (["help", "exec"], ["exec", "--help"]):
            rc, out, _ = run(args)
            self.assertEqual(rc, 0, args)
            for flag in ("--policy", "--timeout", "--workdir", "--ro", "--rw", "--env",
                         "--json", "--no-gate", "--audit", "--quarantine"):
                self.assertIn(flag, out.decode(), args)

    def test_backends_json(self):
        rc, out, _ = run(["backends", "--json"])
        self.assertEqual(rc, 0)
        backends = json.loads(out)
        names = [b["backend"] for b in backends]
        self.assertEqual(names, ["process", "gvisor", "firecracker", "wasm", "oci", "sgx",
                                 "sev", "tdx", "sy-agnos", "noop"])
        for b in backends:
            self.assertIsInstance(b["available"], bool)
            if not b["available"]:
                self.assertTrue(b["reason"], f"{b['backend']} unavailable without a reason")
        self.assertTrue(backends[-1]["available"], "noop must always be available")

    def test_backends_table(self):
        rc, out, _ = run(["backends"])
        self.assertEqual(rc, 0)
        lines = out.decode().splitlines()
        self.assertTrue(lines[0].startswith("BACKEND"))
        self.assertEqual(len(lines), 11)

    def test_score_json(self):
        for policy in ("minimal", "basic", "strict"):
            rc, out, _ = run(["score", "--backend", "process", "--policy", policy, "--json"])
            self.assertEqual(rc, 0)
            s = json.loads(out)
            self.assertEqual(s["backend"], "process")
            self.assertTrue(0 <= s["value"] <= 100)
            self.assertEqual(s["label"], label_for(s["value"]))
            total = sum(item["points"] for item in s["breakdown"])
            self.assertEqual(min(max(total, 0), 100), s["value"], s["breakdown"])
            self.assertIn("base:process", [i["name"] for i in s["breakdown"]])

    def test_score_orders_presets(self):
        values = {}
        for policy in ("minimal", "basic", "strict"):
            _, out, _ = run(["score", "--policy", policy, "--json"])
            values[policy] = json.loads(out)["value"]
        self.assertLess(values["minimal"], values["basic"])
        self.assertLess(values["basic"], values["strict"])

    def test_score_text(self):
        rc, out, _ = run(["score", "--backend", "noop", "--policy", "minimal"])
        self.assertEqual(rc, 0)
        self.assertRegex(out.decode().splitlines()[0], r"^\d+ \((minimal|basic)\)$")


def process_backend_available():
    _, out, _ = run(["backends", "--json"])
    return json.loads(out)[0]["available"]


class ExecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not process_backend_available():
            if os.environ.get("KAVACH_CLI_TEST_ALLOW_NO_PROCESS"):
                raise unittest.SkipTest("process backend unavailable here")
            raise AssertionError("the process backend is unavailable; exec tests cannot run")

    def exec_json(self, args, **kw):
        rc, out, err = run(["exec", "--json"] + args, **kw)
        self.assertTrue(out, f"no JSON on stdout; rc={rc} stderr={err!r}")
        j = json.loads(out)
        return rc, j, err

    def test_passthrough_is_byte_exact(self):
        rc, out, err = run(["exec", "--", "/bin/sh", "-c",
                            r"printf 'a\000b\377\n'; printf 'to stderr\n' >&2"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"a\x00b\xff\n")
        self.assertEqual(err, b"to stderr\n")

    def test_argv_is_not_resplit(self):
        rc, out, err = run(["exec", "--", "/bin/sh", "-c", 'printf "[%s]" "$@"', "sh",
                            "two words", "*", "$HOME"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"[two words][*][$HOME]")

    def test_command_without_double_dash(self):
        rc, out, err = run(["exec", "--policy", "strict", "/bin/echo", "-n", "--json"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"--json")

    def test_exit_code_is_mirrored(self):
        for code in (0, 1, 3, 42, 255):
            rc, _, err = run(["exec", "--", "/bin/sh", "-c", f"exit {code}"])
            self.assertEqual(rc, code, err)

    def test_signal_is_mirrored(self):
        # A fault, not kill(2): the command may be its pid namespace's init,
        # which ignores signals sent from inside for which it has no handler.
        rc, _, err = run(["exec", "--", "python3", "-c", "import ctypes; ctypes.string_at(0)"])
        self.assertEqual(rc, 128 + 11, err)
        # 64 MiB, not less: the OOM killer weighs resident size, and the
        # sandbox's init (a copy of this kavach process, much larger under
        # ASan) must stay the smaller target next to the command's score of
        # 1000 (init's own score cannot be lowered without CAP_SYS_RESOURCE).
        rc, j, _ = self.exec_json(["--memory", "64", "--", "python3", "-c",
                                   "x = bytearray(512 << 20)"])
        self.assertEqual(rc, 128 + 9)
        self.assertEqual(j["signal"], 9)
        self.assertEqual(j["status"], 137)
        self.assertTrue(j["oom_killed"])

    def test_timeout_is_124(self):
        rc, j, _ = self.exec_json(["--timeout", "300", "--", "/bin/sh", "-c", "sleep 60"])
        self.assertEqual(rc, 124)
        self.assertTrue(j["timed_out"])
        self.assertEqual(j["status"], 124)

    def test_not_found(self):
        rc, _, err = run(["exec", "--", "/no/such/binary"])
        self.assertEqual(rc, 127, err)

    def test_json_shape(self):
        rc, j, _ = self.exec_json(["--", "/bin/sh", "-c", "echo out; echo err >&2; exit 4"])
        self.assertEqual(rc, 4)
        for key, typ in REQUIRED_EXEC_KEYS.items():
            self.assertIn(key, j)
            self.assertIsInstance(j[key], typ, key)
        self.assertEqual(j["exit_code"], 4)
        self.assertEqual(j["signal"], 0)
        self.assertEqual(j["stdout"], "out\n")
        self.assertEqual(j["stderr"], "err\n")
        self.assertEqual(j["stdout_encoding"], "utf-8")
        self.assertFalse(j["timed_out"])
        self.assertEqual(j["backend"], "process")
        self.assertEqual(j["policy"], "strict")
        self.assertEqual(j["verdict"], "pass")
        score = j["score"]
        self.assertTrue(0 < score["value"] <= 100)
        self.assertEqual(score["label"], label_for(score["value"]))
        self.assertTrue(j["evidence"], "no evidence")
        for e in j["evidence"]:
            self.assertEqual(set(e), {"control", "verified", "detail", "points"})
        verified = sum(e["points"] for e in j["evidence"] if e["verified"])
        self.assertEqual(min(verified, 100), score["value"])
        for step in j["setup"]:
            self.assertEqual(set(step), {"step", "us"})

    def test_json_binary_output_is_base64(self):
        rc, j, _ = self.exec_json(["--", "/bin/sh", "-c", r"printf '\377\376'"])
        self.assertEqual(rc, 0)
        self.assertEqual(j["stdout_encoding"], "base64")
        self.assertEqual(j["stdout"], "//4=")

    def test_strict_evidence_includes_seccomp_and_namespaces(self):
        _, j, _ = self.exec_json(["--policy", "strict", "--", "/bin/true"])
        controls = {e["control"] for e in j["evidence"] if e["verified"]}
        self.assertTrue(any("seccomp" in c for c in controls), controls)
        self.assertTrue(any(c.startswith("namespace") for c in controls), controls)

    def test_verbose_summary(self):
        rc, out, err = run(["exec", "-v", "--", "/bin/echo", "hi"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"hi\n")
        self.assertRegex(err.decode(), r"kavach: status 0 \| score \d+/100 \w+ .*verdict pass")

    def test_env_workdir_and_stdin(self):
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            rc, out, err = run(["exec", "--workdir", d, "--env", "GREETING=hi there", "-i",
                                "--", "/bin/sh", "-c",
                                'cat > from_stdin; echo "$GREETING" > note; pwd'],
                               stdin=b"piped bytes")
            self.assertEqual(rc, 0, err)
            with open(os.path.join(d, "note")) as f:
                self.assertEqual(f.read(), "hi there\n")
            with open(os.path.join(d, "from_stdin"), "rb") as f:
                self.assertEqual(f.read(), b"piped bytes")

    def test_ro_path_is_visible_and_read_only(self):
        # Not under /tmp: the sandbox has its own tmpfs there.
        with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
            os.chmod(d, 0o755)
            path = os.path.join(d, "data.txt")
            with open(path, "w") as f:
                f.write("host data\n")
            os.chmod(path, 0o644)
            rc, out, err = run(["exec", "--ro", d, "--", "/bin/cat", path])
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, b"host data\n")
            rc, _, _ = run(["exec", "--ro", d, "--", "/bin/sh", "-c", f"echo x > {path}"])
            self.assertNotEqual(rc, 0)
            with open(path) as f:
                self.assertEqual(f.read(), "host data\n")

    def test_gate_is_on_by_default(self):
        script = f"printf '%s' '{FAKE_KEY}'"
        rc, out, err = run(["exec", "--no-gate", "--", "/bin/sh", "-c", script])
        self.assertEqual(rc, 0, err)
        self.assertIn(b"PRIVATE KEY", out)
        rc, out, err = run(["exec", "--", "/bin/sh", "-c", script])
        self.assertNotIn(FAKE_KEY.encode(), out, "the gate let a private key through")
        if rc != 0:
            self.assertEqual(rc, 123, err)
            self.assertIn(b"PERMISSION_DENIED", err)

    def test_termination_signal_stops_the_sandbox(self):
        marker = "61.%d" % os.getpid()  # a unique sleep argument to look for
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            p = subprocess.Popen([KAVACH, "exec", "--no-gate", "--workdir", d, "--", "/bin/sh",
                                  "-c", f"touch started; exec sleep {marker}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            started = os.path.join(d, "started")
            for _ in range(1200):
                if os.path.exists(started) or p.poll() is not None:
                    break
                time.sleep(0.05)
            self.assertTrue(os.path.exists(started), p.stderr.read() if p.poll() else "")
            self.assertTrue(self.sleepers(marker), "the command is not running")
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 128 + signal.SIGTERM, err)
            self.assertIn(b"CANCELLED", err)
            self.assertEqual(self.sleepers(marker), [], "the command outlived kavach")

    @staticmethod
    def sleepers(marker):
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[:1] == [b"sleep"] and marker.encode() in argv:
                found.append(pid)
        return found

    def test_microvm_clones_by_default_and_cold_boots_on_request(self):
        _, out, _ = run(["backends", "--json"])
        fc = [b for b in json.loads(out) if b["backend"] == "firecracker"]
        if not fc or not fc[0]["available"]:
            self.skipTest("the microVM backend cannot run here")
        for flags, clone in ((["--cold"], False), ([], True), ([], True)):
            rc, out, err = run(["exec", "--backend", "firecracker", "--no-gate", "--json"] +
                               flags + ["--", "/bin/echo", "hi"], timeout=300)
            self.assertEqual(rc, 0, err)
            j = json.loads(out)
            self.assertEqual(j["stdout"], "hi\n")
            self.assertIs(j["clone"], clone, flags)
            self.assertEqual(j["vmm"], "qemu")
            # auto chose QEMU and says why firecracker was not used.
            choice = [e["detail"] for e in j["evidence"] if e["control"] == "vm.vmm_choice"]
            self.assertEqual(len(choice), 1, j["evidence"])
            self.assertIn("firecracker not used: ", choice[0])
            self.assertEqual(j["share"], "9p")

    def test_microvm_network_host_reaches_the_hosts_loopback(self):
        _, out, _ = run(["backends", "--json"])
        fc = [b for b in json.loads(out) if b["backend"] == "firecracker"]
        if not fc or not fc[0]["available"]:
            self.skipTest("the microVM backend cannot run here")
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            srv.settimeout(60)
            script = ("import socket; s = socket.create_connection(('10.0.2.2', %d), 20); "
                      "s.sendall(b'from the guest'); s.close()" % srv.getsockname()[1])
            rc, out, err = run(["exec", "--backend", "firecracker", "--network", "host",
                                "--no-gate", "--json", "--", "/usr/bin/python3", "-c", script],
                               timeout=300)
            self.assertEqual(rc, 0, err)
            j = json.loads(out)
            net = [e["detail"] for e in j["evidence"] if e["control"] == "network"]
            self.assertEqual(len(net), 1, j["evidence"])
            self.assertIn("network host", net[0])
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(20)
                got = b""
                while chunk := conn.recv(100):
                    got += chunk
            self.assertEqual(got, b"from the guest")
        rc, _, err = run(["exec", "--backend", "firecracker", "--network", "proxy",
                          "--allow-host", "example.com", "--no-gate", "--", "/bin/true"],
                         timeout=300)
        self.assertNotEqual(rc, 0)
        self.assertIn(b"mode proxy is not supported", err)

    def test_microvm_block_shares(self):
        _, out, _ = run(["backends", "--json"])
        fc = [b for b in json.loads(out) if b["backend"] == "firecracker"]
        if not fc or not fc[0]["available"]:
            self.skipTest("the microVM backend cannot run here")
        for tool in ("mksquashfs", "mke2fs", "debugfs"):
            if not any(os.path.exists(os.path.join(d, tool)) for d in ("/usr/sbin", "/usr/bin")):
                self.skipTest(f"{tool} missing (scripts/bootstrap installs it)")
        with tempfile.TemporaryDirectory() as d:
            usr, work = os.path.join(d, "usr"), os.path.join(d, "work")
            os.makedirs(os.path.join(usr, "bin"))
            os.mkdir(work)
            os.chmod(work, 0o777)
            with open("/bin/busybox", "rb") as src, open(os.path.join(usr, "bin/busybox"), "wb") as dst:
                dst.write(src.read())
            os.chmod(os.path.join(usr, "bin/busybox"), 0o755)
            for applet in ("sh", "cat", "echo"):
                os.symlink("busybox", os.path.join(usr, "bin", applet))
            env = dict(os.environ, KAVACH_MICROVM_SHARE="block", KAVACH_MICROVM_BLOCK_USR=usr)
            # Warm clones carry no drives: refused, naming the way out.
            rc, out, err = run(["exec", "--backend", "firecracker", "--no-gate", "--workdir", work,
                                "--", "/bin/true"], env=env, timeout=300)
            self.assertNotEqual(rc, 0)
            self.assertIn(b"KAVACH_MICROVM_CLONE=off", err)
            rc, out, err = run(["exec", "--backend", "firecracker", "--no-gate", "--json", "--cold",
                                "--workdir", work, "--", "/bin/sh", "-c",
                                "echo hi > out.txt; cat /proc/mounts"], env=env, timeout=300)
            self.assertEqual(rc, 0, err)
            j = json.loads(out)
            self.assertEqual(j["share"], "block")
            self.assertIs(j["clone"], False)
            self.assertIn(" /usr squashfs ro", j["stdout"])
            with open(os.path.join(work, "out.txt")) as f:
                self.assertEqual(f.read(), "hi\n")
            # The test tree's squashfs image leaves the shared cache.
            for e in j["evidence"]:
                m = re.search(r"squashfs (/\S+\.squashfs) of ", e.get("detail", ""))
                if m:
                    os.unlink(m.group(1))

    def test_vmm_firecracker_names_what_is_missing(self):
        _, out, _ = run(["backends", "--json"])
        fc = [b for b in json.loads(out) if b["backend"] == "firecracker"]
        if not fc or not fc[0]["available"]:
            self.skipTest("the microVM backend cannot run here")
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, PATH=d + ":/usr/bin:/bin")
            env.pop("KAVACH_FIRECRACKER", None)
            if not any(os.access(os.path.join(p, "firecracker"), os.X_OK)
                       for p in env["PATH"].split(":")):
                rc, _, err = run(["exec", "--backend", "firecracker", "--vmm", "firecracker",
                                  "--", "/bin/true"], env=env)
                self.assertEqual(rc, 125, err)
                self.assertIn(b"UNAVAILABLE: microvm: --vmm firecracker: firecracker not found "
                              b"in PATH", err)
            # A firecracker that exists: the backend's text and the exec name
            # KVM where it cannot boot a guest (the tests-only switch that
            # lets a fake run without KVM is not reachable from the CLI).
            fake = os.path.join(d, "firecracker")
            with open(fake, "w") as f:
                f.write("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Firecracker v1.10.1' && exit 0\n"
                        "exit 1\n")
            os.chmod(fake, 0o755)
            env["KAVACH_FIRECRACKER"] = fake
            _, out, _ = run(["backends"], env=env)
            line = [l for l in out.decode().splitlines() if l.startswith("firecracker")][0]
            if "not used: it needs KVM" not in line:
                self.skipTest("KVM looks usable here: " + line)
            self.assertIn("VMM QEMU -M microvm", line)
            self.assertIn("firecracker at %s not used: it needs KVM" % fake, line)
            rc, out, err = run(["exec", "--backend", "firecracker", "--vmm", "firecracker",
                                "--json", "--", "/bin/true"], env=env)
            self.assertEqual(rc, 125, err)
            self.assertIn(b"UNAVAILABLE: microvm: --vmm firecracker: firecracker needs KVM: ",
                          err)
            # A release without ACPI device tables is refused for what it is.
            with open(fake, "w") as f:
                f.write("#!/bin/sh\necho 'Firecracker v1.7.0'\n")
            rc, out, err = run(["exec", "--backend", "firecracker", "--vmm", "firecracker",
                                "--json", "--", "/bin/true"], env=env)
            self.assertEqual(rc, 125, err)
            self.assertIn(b"firecracker v1.7.0 lists virtio devices only on the kernel command "
                          b"line", err)

    def test_unavailable_backend_is_125(self):
        _, out, _ = run(["backends", "--json"])
        unavailable = [b["backend"] for b in json.loads(out) if not b["available"]]
        if not unavailable:
            self.skipTest("every backend is available here")
        rc, out, err = run(["exec", "--backend", unavailable[0], "--json", "--", "/bin/true"])
        self.assertEqual(rc, 125, err)
        self.assertRegex(err.decode(), r"kavach: exec: create: [A-Z_]+: ")
        j = json.loads(out)
        self.assertEqual(j["status"], 125)
        self.assertEqual(j["error"]["stage"], "create")

    def test_unprivileged_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to uid 65534")

        def drop():
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)

        rc, out, err = run(["exec", "--policy", "basic", "--", "/bin/sh", "-c",
                            "echo unpriv; exit 5"], preexec_fn=drop)
        self.assertEqual(rc, 5, err)
        self.assertEqual(out, b"unpriv\n")
        # strict asks for cgroup limits; without a delegated cgroup an
        # unprivileged user cannot have them, and kavach must say so rather
        # than run without them.
        rc, out, err = run(["exec", "--policy", "strict", "--", "/bin/sh", "-c", "exit 5"],
                           preexec_fn=drop)
        if rc != 5:
            self.assertEqual(rc, 125, err)
            self.assertRegex(err.decode(), r"kavach: exec: create: [A-Z_]+: .*cgroup")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cli_test.py path/to/kavach [unittest args]")
    KAVACH = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)

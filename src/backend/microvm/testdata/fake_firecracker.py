#!/usr/bin/python3
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# A fake `firecracker` for tests (Firecracker cannot run on hosts without a
# working KVM). It serves Firecracker's API on --api-sock: PUT /boot-source,
# /machine-config, /drives/{id}, /vsock and /actions InstanceStart, answering
# 204, or 400 with a fault_message for a malformed body as the real one does,
# and records every call (method, path, body, status) as a JSON line in
# <dir of the API socket>/calls.jsonl. On InstanceStart it boots the REAL
# guest with qemu-system-x86_64 -M microvm under TCG, translated from the
# recorded configuration: kernel, initrd, boot args without kavach.channel (so
# the guest agent uses virtio-serial, QEMU here has no vsock), drives as
# virtio-blk-device with serial=<drive id>, memory, vCPUs. It bridges QEMU's
# virtio-serial socket to the host's <uds_path>_<port>, the socket Firecracker
# forwards a guest-initiated vsock connection to, dialled when the guest's
# agent first speaks. The guest's serial console
# goes to stdout, as Firecracker's does. When QEMU exits the fake exits with
# its status (Firecracker exits when its guest shuts down).
#
# Usage: fake_firecracker.py [--fake-mode MODE] --api-sock PATH [ignored...]
# MODE: ok (default); exit-before-start (exits 3 on PUT /actions, unanswered);
# refuse-machine-config (400 to PUT /machine-config); no-guest (answers
# InstanceStart but boots nothing, so no agent ever connects); keep-channel
# (boots the guest with kavach.channel left in, so its agent tries vsock,
# which QEMU here cannot give it, and powers the guest off).
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

MODE = "ok"
API_SOCK = None
RECORD = None
CONFIG = {"drives": {}}
LOCK = threading.Lock()
STARTED = False


def log(msg):
    sys.stderr.write("fake firecracker: %s\n" % msg)
    sys.stderr.flush()


def record(method, path, body, status):
    with LOCK:
        with open(RECORD, "a") as f:
            f.write(json.dumps({"method": method, "path": path, "body": body,
                                "status": status}) + "\n")


class Fault(Exception):
    pass


def check_fields(obj, fields, required, what):
    # serde(deny_unknown_fields) as in Firecracker's API models.
    if not isinstance(obj, dict):
        raise Fault("%s: expected a JSON object" % what)
    for k, v in obj.items():
        if k not in fields:
            raise Fault("%s: unknown field `%s`" % (what, k))
        t = fields[k]
        ok = {"s": lambda x: isinstance(x, str),
              "b": lambda x: isinstance(x, bool),
              "i": lambda x: isinstance(x, int) and not isinstance(x, bool)}[t](v)
        if not ok:
            raise Fault("%s: invalid type for `%s`" % (what, k))
    for r in required:
        if r not in obj:
            raise Fault("%s: missing field `%s`" % (what, r))


def must_exist(path, what):
    if not os.path.exists(path):
        raise Fault("%s: %s: No such file or directory (os error 2)" % (what, path))


def handle(method, path, body):
    """Returns (status, fault_message or None)."""
    if STARTED and path != "/actions":
        return 400, "The requested operation is not supported after starting the microVM."
    if method != "PUT":
        return 400, "Invalid request method and/or path: %s %s." % (method, path)
    try:
        obj = json.loads(body) if body else None
    except ValueError as e:
        return 400, "An error occurred when deserializing the json body of a request: %s." % e
    try:
        if path == "/boot-source":
            check_fields(obj, {"kernel_image_path": "s", "initrd_path": "s", "boot_args": "s"},
                         ["kernel_image_path"], "boot-source")
            must_exist(obj["kernel_image_path"], "Kernel")
            if "initrd_path" in obj:
                must_exist(obj["initrd_path"], "Initrd")
            CONFIG["boot-source"] = obj
        elif path == "/machine-config":
            if MODE == "refuse-machine-config":
                return 400, "Invalid machine configuration: the fake refuses it (test mode)"
            check_fields(obj, {"vcpu_count": "i", "mem_size_mib": "i", "smt": "b",
                               "track_dirty_pages": "b", "huge_pages": "s"},
                         ["vcpu_count", "mem_size_mib"], "machine-config")
            if not 1 <= obj["vcpu_count"] <= 32:
                raise Fault("The vCPU number is invalid! The vCPU number can only be 1 or an "
                            "even number when SMT is enabled.")
            CONFIG["machine-config"] = obj
        elif path.startswith("/drives/"):
            check_fields(obj, {"drive_id": "s", "path_on_host": "s", "is_root_device": "b",
                               "is_read_only": "b", "partuuid": "s", "cache_type": "s",
                               "io_engine": "s"},
                         ["drive_id", "is_root_device"], "drive")
            if obj["drive_id"] != path[len("/drives/"):]:
                raise Fault("The id from the path [%s] does not match the id from the body [%s]!"
                            % (path[len("/drives/"):], obj["drive_id"]))
            must_exist(obj.get("path_on_host", ""), "Drive")
            CONFIG["drives"][obj["drive_id"]] = obj
        elif path == "/vsock":
            check_fields(obj, {"guest_cid": "i", "uds_path": "s", "vsock_id": "s"},
                         ["guest_cid", "uds_path"], "vsock")
            if obj["guest_cid"] < 3:
                raise Fault("Invalid guest CID: %d" % obj["guest_cid"])
            CONFIG["vsock"] = obj
        elif path == "/actions":
            check_fields(obj, {"action_type": "s"}, ["action_type"], "actions")
            if obj["action_type"] != "InstanceStart":
                raise Fault("unknown variant `%s`" % obj["action_type"])
            if MODE == "exit-before-start":
                log("exiting before InstanceStart (test mode)")
                os._exit(3)
            if "boot-source" not in CONFIG:
                raise Fault("Cannot start microvm that was not configured: missing kernel "
                            "configuration.")
            start_guest()
        else:
            return 400, "Invalid request method and/or path: %s %s." % (method, path)
    except Fault as e:
        return 400, str(e)
    return 204, None


def relay(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def connect_unix(path, seconds):
    deadline = time.time() + seconds
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.01)


def start_guest():
    global STARTED
    STARTED = True
    if MODE == "no-guest":
        log("InstanceStart answered; booting nothing (test mode)")
        return
    boot = CONFIG["boot-source"]
    machine = CONFIG.get("machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    words = boot.get("boot_args", "").split()
    port = None
    kept = []
    for w in words:
        m = re.fullmatch(r"kavach\.channel=vsock:(\d+)", w)
        if m:
            port = int(m.group(1))
            if MODE == "keep-channel":
                kept.append(w)
        else:
            kept.append(w)
    run_dir = os.path.dirname(API_SOCK)
    agent_sock = os.path.join(run_dir, "fake-qemu-agent.sock")
    qemu = shutil.which("qemu-system-x86_64", path="/usr/bin:/bin:/usr/local/bin")
    if qemu is None:
        raise Fault("qemu-system-x86_64 not found (the fake boots the guest with it)")
    argv = [qemu, "-M", "microvm", "-accel", "tcg", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot",
            "-m", str(machine["mem_size_mib"]), "-smp", str(machine["vcpu_count"]),
            "-kernel", boot["kernel_image_path"], "-append", " ".join(kept),
            "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
            "-device", "virtio-serial-device",
            "-chardev", "socket,id=agent,path=%s,server=on,wait=off" % agent_sock,
            "-device", "virtserialport,chardev=agent,name=kavach.agent"]
    if "initrd_path" in boot:
        argv += ["-initrd", boot["initrd_path"]]
    for drive_id, d in CONFIG["drives"].items():
        argv += ["-drive", "id=%s,file=%s,format=raw,if=none,readonly=%s"
                 % (drive_id, d["path_on_host"], "on" if d.get("is_read_only") else "off"),
                 "-device", "virtio-blk-device,drive=%s,serial=%s" % (drive_id, drive_id)]
    log("booting: " + " ".join(argv))
    # QEMU stays in the fake's process group (and jail), so whatever kills
    # the VMM kills it too. (No PR_SET_PDEATHSIG: it fires when the API
    # thread that started QEMU ends, not when the fake does.)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def watch():
        code = proc.wait()
        log("QEMU exited %d" % code)
        os._exit(code if code >= 0 else 128 - code)

    threading.Thread(target=watch, daemon=True).start()
    if port is None or "vsock" not in CONFIG:
        log("no vsock or no kavach.channel: no agent bridge")
        return
    host_path = "%s_%d" % (CONFIG["vsock"]["uds_path"], port)
    guest_side = connect_unix(agent_sock, 10)

    def bridge():
        # Guest-initiated, as with Firecracker's vsock: the host's socket is
        # dialled only once the guest's agent speaks (its hello).
        first = guest_side.recv(65536)
        if not first:
            return
        host_side = connect_unix(host_path, 10)
        host_side.sendall(first)
        threading.Thread(target=relay, args=(guest_side, host_side), daemon=True).start()
        relay(host_side, guest_side)

    threading.Thread(target=bridge, daemon=True).start()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path, body[:length].decode("utf-8", "replace")


def serve(conn):
    with conn:
        while True:
            req = read_request(conn)
            if req is None:
                return
            method, path, body = req
            status, fault = handle(method, path, body)
            record(method, path, body, status)
            if status == 204:
                conn.sendall(b"HTTP/1.1 204 \r\nServer: Firecracker API\r\n"
                             b"Connection: keep-alive\r\n\r\n")
            else:
                payload = json.dumps({"fault_message": fault}).encode()
                conn.sendall(b"HTTP/1.1 %d \r\nServer: Firecracker API\r\n"
                             b"Connection: keep-alive\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % (status, len(payload)) + payload)


def main():
    global MODE, API_SOCK, RECORD
    args = sys.argv[1:]
    if "--version" in args:
        # The real binary's first line; mode old-version plays a release
        # without ACPI device tables.
        mode = args[args.index("--fake-mode") + 1] if "--fake-mode" in args else "ok"
        print("Firecracker v1.7.0" if mode == "old-version" else "Firecracker v1.10.1")
        print()
        print("Supported snapshot data format versions: v1.0.0, v2.0.0, v3.0.0, v4.0.0")
        return 0
    i = 0
    while i < len(args):
        if args[i] == "--fake-mode":
            MODE = args[i + 1]
            i += 2
        elif args[i] == "--api-sock":
            API_SOCK = args[i + 1]
            i += 2
        else:
            i += 1
    if API_SOCK is None:
        log("--api-sock is required")
        return 1
    RECORD = os.path.join(os.path.dirname(API_SOCK), "calls.jsonl")
    # The real firecracker opens /dev/kvm first thing: record whether the
    # VMM jail let us (read-write, as KVM needs).
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
        kvm = "opened"
    except OSError as e:
        kvm = "absent" if e.errno == errno.ENOENT else "error: " + os.strerror(e.errno)
    with open(RECORD, "a") as f:
        f.write(json.dumps({"kvm": kvm}) + "\n")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(API_SOCK)
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

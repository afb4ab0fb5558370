// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// JSON and TOML policy files. Both formats become one nlohmann tree, decoded
// by one decoder, so the two cannot disagree on a key name or a range. TOML
// trees are converted node by node (TOML integers are signed 64-bit; dates and
// times are refused).
#include "policy/policy_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kavach/policy.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "toml++/toml.h"

#define KAVACH_RETURN_IF_ERROR(expr)                      \
  do {                                                    \
    if (absl::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

namespace kavach {
namespace internal {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kMiB = uint64_t{1} << 20;
// TOML integers are int64; keeping every stored integer in that range keeps
// the two formats interchangeable.
constexpr uint64_t kMaxStorable = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

std::string Join(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  return absl::StrCat(ToAbsl(prefix), ".", ToAbsl(key));
}

std::string Render(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = absl::StrCat(s.substr(0, 57), "...");
  return s;
}

absl::Status Expected(std::string_view key, std::string_view what, const Json& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(key), ": expected ", ToAbsl(what), ", got ", Render(got)));
}

absl::Status UnknownKey(std::string_view key, std::initializer_list<std::string_view> allowed) {
  std::vector<std::string> names(allowed.begin(), allowed.end());
  return absl::InvalidArgumentError(absl::StrCat(
      ToAbsl(key), ": unknown key (expected one of: ", absl::StrJoin(names, ", "), ")"));
}

absl::Status Read(const Json& v, const std::string& key, bool& out) {
  if (!v.is_boolean()) return Expected(key, "true or false", v);
  out = v.get<bool>();
  return absl::OkStatus();
}

absl::Status Read(const Json& v, const std::string& key, std::string& out) {
  if (!v.is_string()) return Expected(key, "a string", v);
  out = v.get<std::string>();
  return absl::OkStatus();
}

// Integers in [min, max]. Floats are refused even when whole: a limit written
// as 1.5 is a mistake worth reporting, and 2.0 is rare enough not to matter.
// `what` describes the accepted values; empty means "a positive/non-negative
// integer" with a separate "at most" message above `max`.
template <typename T>
absl::Status ReadInt(const Json& v, const std::string& key, uint64_t min, uint64_t max, T& out,
                     std::string_view what = {}) {
  std::string expected(what);
  if (expected.empty()) {
    expected = min > 1    ? absl::StrCat("an integer of at least ", min)
               : min == 1 ? "a positive integer"
                          : "a non-negative integer";
  }
  if (!v.is_number_integer()) return Expected(key, expected, v);
  uint64_t x = 0;
  if (v.is_number_unsigned()) {
    x = v.get<uint64_t>();
  } else {
    // A signed integer, as trees built in code hold (`doc["uid"] = 3`).
    int64_t s = v.get<int64_t>();
    if (s < 0) return Expected(key, expected, v);
    x = static_cast<uint64_t>(s);
  }
  if (x < min) return Expected(key, expected, v);
  if (x > max) return Expected(key, what.empty() ? absl::StrCat("at most ", max) : expected, v);
  out = static_cast<T>(x);
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadInt(const Json& v, const std::string& key, uint64_t min, T& out) {
  uint64_t max = std::min<uint64_t>(std::numeric_limits<T>::max(), kMaxStorable);
  return ReadInt(v, key, min, max, out);
}

// JSON null clears an optional value (TOML has no null).
template <typename T>
absl::Status ReadOptionalInt(const Json& v, const std::string& key, uint64_t min,
                             std::optional<T>& out) {
  if (v.is_null()) {
    out.reset();
    return absl::OkStatus();
  }
  T x{};
  KAVACH_RETURN_IF_ERROR(ReadInt(v, key, min, x));
  out = x;
  return absl::OkStatus();
}

absl::Status Read(const Json& v, const std::string& key, std::vector<std::string>& out) {
  if (!v.is_array()) return Expected(key, "a list of strings", v);
  std::vector<std::string> list;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string s;
    KAVACH_RETURN_IF_ERROR(Read(v[i], absl::StrCat(key, "[", i, "]"), s));
    list.push_back(std::move(s));
  }
  out = std::move(list);
  return absl::OkStatus();
}

absl::Status ReadPorts(const Json& v, const std::string& key,
                       std::optional<std::vector<uint16_t>>& out) {
  if (v.is_null()) {
    out.reset();
    return absl::OkStatus();
  }
  if (!v.is_array()) return Expected(key, "a list of port numbers", v);
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t port = 0;
    KAVACH_RETURN_IF_ERROR(
        ReadInt(v[i], absl::StrCat(key, "[", i, "]"), 1, 65535, port, "a port number 1..65535"));
    ports.push_back(port);
  }
  out = std::move(ports);
  return absl::OkStatus();
}

absl::Status DecodeFilesystem(const Json& v, const std::string& key, FilesystemPolicy& fs) {
  if (!v.is_object()) return Expected(key, "a table", v);
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "read_only") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, fs.read_only));
    } else if (name == "read_write") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, fs.read_write));
    } else if (name == "executable") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, fs.executable));
    } else if (name == "hidden") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, fs.hidden));
    } else if (name == "read_only_root") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, fs.read_only_root));
    } else if (name == "landlock") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, fs.landlock));
    } else {
      return UnknownKey(
          k, {"read_only", "read_write", "executable", "hidden", "read_only_root", "landlock"});
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeNetwork(const Json& v, const std::string& key, NetworkPolicy& net) {
  if (!v.is_object()) return Expected(key, "a table", v);
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "mode") {
      if (!item.is_string()) return Expected(k, "\"none\", \"proxy\" or \"host\"", item);
      absl::StatusOr<NetworkMode> mode = ParseNetworkMode(item.get<std::string>());
      if (!mode.ok()) return Expected(k, "\"none\", \"proxy\" or \"host\"", item);
      net.mode = *mode;
    } else if (name == "tcp_bind_ports") {
      KAVACH_RETURN_IF_ERROR(ReadPorts(item, k, net.tcp_bind_ports));
    } else if (name == "tcp_connect_ports") {
      KAVACH_RETURN_IF_ERROR(ReadPorts(item, k, net.tcp_connect_ports));
    } else {
      return UnknownKey(k, {"mode", "tcp_bind_ports", "tcp_connect_ports"});
    }
  }
  return absl::OkStatus();
}

absl::Status ReadStringMap(const Json& v, const std::string& key,
                           std::map<std::string, std::string>& out) {
  if (!v.is_object()) return Expected(key, "a table of NAME = \"value\"", v);
  std::map<std::string, std::string> m;
  for (const auto& [name, value] : v.items()) {
    KAVACH_RETURN_IF_ERROR(Read(value, Join(key, name), m[name]));
  }
  out = std::move(m);
  return absl::OkStatus();
}

absl::Status DecodeCredential(const Json& v, const std::string& key, CredentialRule& rule) {
  if (!v.is_object()) return Expected(key, "a table with host, header and source", v);
  bool has_host = false, has_header = false, has_source = false;
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "host") {
      has_host = true;
      KAVACH_RETURN_IF_ERROR(Read(item, k, rule.host));
    } else if (name == "header") {
      has_header = true;
      KAVACH_RETURN_IF_ERROR(Read(item, k, rule.header));
    } else if (name == "source") {
      has_source = true;
      // Not echoed on error: a secret pasted here by mistake must not reach
      // a log.
      if (!item.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(k, ": expected env:NAME or file:/path"));
      }
      rule.source = item.get<std::string>();
    } else if (name == "prefix") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, rule.prefix));
    } else if (name == "placeholder") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, rule.placeholder));
    } else {
      return UnknownKey(k, {"host", "header", "source", "prefix", "placeholder"});
    }
  }
  for (auto [present, name] : {std::pair<bool, const char*>{has_host, "host"},
                               {has_header, "header"},
                               {has_source, "source"}}) {
    if (!present) return absl::InvalidArgumentError(absl::StrCat(Join(key, name), ": missing"));
  }
  return absl::OkStatus();
}

absl::Status DecodeSecret(const Json& v, const std::string& key, SecretInjection& secret) {
  if (!v.is_object()) return Expected(key, "a table with deliver, target and source", v);
  bool has_deliver = false, has_source = false;
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "deliver") {
      has_deliver = true;
      if (!item.is_string()) return Expected(k, "\"env\", \"file\" or \"stdin\"", item);
      absl::StatusOr<SecretDelivery> d = ParseSecretDelivery(item.get<std::string>());
      if (!d.ok()) return Expected(k, "\"env\", \"file\" or \"stdin\"", item);
      secret.deliver = *d;
    } else if (name == "target") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, secret.target));
    } else if (name == "source") {
      has_source = true;
      // Not echoed on error: a secret pasted here by mistake must not reach
      // a log.
      if (!item.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(k, ": expected env:NAME or file:/path"));
      }
      secret.source = item.get<std::string>();
    } else {
      return UnknownKey(k, {"deliver", "target", "source"});
    }
  }
  for (auto [present, name] :
       {std::pair<bool, const char*>{has_deliver, "deliver"}, {has_source, "source"}}) {
    if (!present) return absl::InvalidArgumentError(absl::StrCat(Join(key, name), ": missing"));
  }
  return absl::OkStatus();
}

absl::Status DecodeEgress(const Json& v, const std::string& key, EgressPolicy& egress) {
  if (!v.is_object()) return Expected(key, "a table", v);
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "allow_hosts") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, egress.allow_hosts));
    } else if (name == "allow_ports") {
      std::optional<std::vector<uint16_t>> ports;
      if (item.is_null()) return Expected(k, "a list of port numbers", item);
      KAVACH_RETURN_IF_ERROR(ReadPorts(item, k, ports));
      egress.allow_ports = *std::move(ports);
    } else if (name == "schemes") {
      KAVACH_RETURN_IF_ERROR(ReadStringMap(item, k, egress.schemes));
    } else if (name == "credentials") {
      if (!item.is_array()) return Expected(k, "a list of tables", item);
      std::vector<CredentialRule> rules(item.size());
      for (size_t i = 0; i < item.size(); ++i) {
        KAVACH_RETURN_IF_ERROR(DecodeCredential(item[i], absl::StrCat(k, "[", i, "]"), rules[i]));
      }
      egress.credentials = std::move(rules);
    } else if (name == "resolve") {
      KAVACH_RETURN_IF_ERROR(ReadStringMap(item, k, egress.resolve));
    } else if (name == "upstream_ca_file") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, egress.upstream_ca_file));
    } else {
      return UnknownKey(k, {"allow_hosts", "allow_ports", "schemes", "credentials", "resolve",
                            "upstream_ca_file"});
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeScopes(const Json& v, const std::string& key, LandlockScopes& scopes) {
  if (!v.is_object()) return Expected(key, "a table", v);
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "abstract_unix_socket") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, scopes.abstract_unix_socket));
    } else if (name == "signal") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, scopes.signal));
    } else {
      return UnknownKey(k, {"abstract_unix_socket", "signal"});
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeLimits(const Json& v, const std::string& key, ResourceLimits& limits) {
  if (!v.is_object()) return Expected(key, "a table", v);
  const Json* memory_bytes = nullptr;
  const Json* memory_mb = nullptr;
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "memory_bytes") {
      memory_bytes = &item;
      KAVACH_RETURN_IF_ERROR(ReadOptionalInt(item, k, kMiB, limits.memory_bytes));
    } else if (name == "memory_mb") {
      memory_mb = &item;
    } else if (name == "cpu_cores") {
      if (item.is_null()) {
        limits.cpu_cores.reset();
      } else if (!item.is_number() || !(item.get<double>() > 0 && item.get<double>() <= 1024)) {
        return Expected(k, "a number of cores > 0 and <= 1024", item);
      } else {
        limits.cpu_cores = item.get<double>();
      }
    } else if (name == "cpu_weight") {
      if (item.is_null()) {
        limits.cpu_weight.reset();
      } else {
        uint32_t w = 0;
        KAVACH_RETURN_IF_ERROR(ReadInt(item, k, 1, 10000, w, "an integer in 1..10000"));
        limits.cpu_weight = w;
      }
    } else if (name == "max_pids") {
      KAVACH_RETURN_IF_ERROR(ReadOptionalInt(item, k, 1, limits.max_pids));
    } else if (name == "wall_time_ms") {
      KAVACH_RETURN_IF_ERROR(ReadOptionalInt(item, k, 1, limits.wall_time_ms));
    } else if (name == "max_output_bytes") {
      KAVACH_RETURN_IF_ERROR(ReadInt(item, k, 1, limits.max_output_bytes));
    } else if (name == "max_open_files") {
      KAVACH_RETURN_IF_ERROR(ReadOptionalInt(item, k, 0, limits.max_open_files));
    } else if (name == "max_file_size_bytes") {
      KAVACH_RETURN_IF_ERROR(ReadOptionalInt(item, k, 0, limits.max_file_size_bytes));
    } else {
      return UnknownKey(
          k, {"memory_bytes", "memory_mb", "cpu_cores", "cpu_weight", "max_pids", "wall_time_ms",
              "max_output_bytes", "max_open_files", "max_file_size_bytes"});
    }
  }
  if (memory_mb != nullptr) {
    std::string k = Join(key, "memory_mb");
    if (memory_bytes != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(k, ": give either memory_mb or memory_bytes, not both"));
    }
    std::optional<uint64_t> mb;
    KAVACH_RETURN_IF_ERROR(ReadOptionalInt(*memory_mb, k, 1, mb));
    if (mb && *mb > kMaxStorable / kMiB) {
      return Expected(k, absl::StrCat("at most ", kMaxStorable / kMiB), *memory_mb);
    }
    limits.memory_bytes = mb ? std::optional<uint64_t>(*mb * kMiB) : std::nullopt;
  }
  return absl::OkStatus();
}

absl::Status DecodeEnvironment(const Json& v, const std::string& key, EnvironmentPolicy& env) {
  if (!v.is_object()) return Expected(key, "a table", v);
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(key, name);
    if (name == "allow") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, env.allow));
    } else if (name == "set") {
      if (!item.is_object()) return Expected(k, "a table of NAME = \"value\"", item);
      std::map<std::string, std::string> set;
      for (const auto& [var, value] : item.items()) {
        KAVACH_RETURN_IF_ERROR(Read(value, Join(k, var), set[var]));
      }
      env.set = std::move(set);
    } else {
      return UnknownKey(k, {"allow", "set"});
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeControls(const Json& v, const std::string& key, std::set<Control>& out) {
  std::vector<std::string> names;
  KAVACH_RETURN_IF_ERROR(Read(v, key, names));
  std::set<Control> controls;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StatusOr<Control> c = ParseControl(names[i]);
    if (!c.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(key, "[", i, "]: ", c.status().message()));
    }
    controls.insert(*c);
  }
  out = std::move(controls);
  return absl::OkStatus();
}

absl::Status Prefixed(const absl::Status& s, std::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(ToAbsl(prefix), ": ", s.message()));
}

absl::StatusOr<Json> TomlToJson(const toml::node& node, const std::string& key) {
  if (const toml::table* t = node.as_table()) {
    Json obj = Json::object();
    for (auto&& [k, v] : *t) {
      absl::StatusOr<Json> child = TomlToJson(v, Join(key, k.str()));
      if (!child.ok()) return child.status();
      obj[std::string(k.str())] = *std::move(child);
    }
    return obj;
  }
  if (const toml::array* a = node.as_array()) {
    Json arr = Json::array();
    for (size_t i = 0; i < a->size(); ++i) {
      absl::StatusOr<Json> child = TomlToJson(*a->get(i), absl::StrCat(key, "[", i, "]"));
      if (!child.ok()) return child.status();
      arr.push_back(*std::move(child));
    }
    return arr;
  }
  if (const auto* i = node.as_integer()) {
    int64_t x = i->get();
    // Unsigned when possible, so the decoder sees the same types as from JSON.
    return x >= 0 ? Json(static_cast<uint64_t>(x)) : Json(x);
  }
  if (const auto* d = node.as_floating_point()) return Json(d->get());
  if (const auto* b = node.as_boolean()) return Json(b->get());
  if (const auto* s = node.as_string()) return Json(s->get());
  const toml::source_position pos = node.source().begin;
  return absl::InvalidArgumentError(absl::StrCat(key,
                                                 ": dates and times are not policy values (line ",
                                                 pos.line, ", column ", pos.column, ")"));
}

void JsonToToml(const Json& v, toml::table& out, const std::string& key);

void AppendToml(const Json& v, toml::array& out) {
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_number_unsigned()) {
    uint64_t x = v.get<uint64_t>();
    // Only reachable for values Validate() rejects; a string fails loudly on
    // load instead of wrapping round to a negative number.
    if (x > kMaxStorable) {
      out.push_back(absl::StrCat(x));
    } else {
      out.push_back(static_cast<int64_t>(x));
    }
  } else if (v.is_number_integer()) {
    out.push_back(v.get<int64_t>());
  } else if (v.is_number_float()) {
    out.push_back(v.get<double>());
  } else if (v.is_boolean()) {
    out.push_back(v.get<bool>());
  } else if (v.is_array()) {
    toml::array inner;
    for (const Json& e : v) AppendToml(e, inner);
    out.push_back(std::move(inner));
  } else if (v.is_object()) {
    // An array of tables (egress.credentials).
    toml::table t;
    JsonToToml(v, t, "");
    out.push_back(std::move(t));
  }
}

void JsonToToml(const Json& obj, toml::table& out, const std::string& key) {
  for (const auto& [name, v] : obj.items()) {
    if (v.is_object()) {
      toml::table sub;
      JsonToToml(v, sub, Join(key, name));
      out.insert_or_assign(name, std::move(sub));
    } else if (v.is_array()) {
      toml::array arr;
      for (const Json& e : v) AppendToml(e, arr);
      out.insert_or_assign(name, std::move(arr));
    } else {
      toml::array one;
      AppendToml(v, one);
      if (!one.empty()) out.insert_or_assign(name, std::move(*one.get(0)));
    }
  }
}

// nlohmann keeps the last of two equal keys without a word; a policy file
// that says memory_bytes twice is a mistake we want to report.
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, nlohmann::detail::parse_event_t event, Json& parsed) {
    using E = nlohmann::detail::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start: {
        std::string path;
        if (!frames_.empty()) {
          const Frame& parent = frames_.back();
          path = parent.is_array ? absl::StrCat(parent.path, "[]")
                                 : Join(parent.path, parent.last_key);
        }
        frames_.push_back({std::move(path), {}, "", event == E::array_start});
        break;
      }
      case E::object_end:
      case E::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case E::key:
        if (!frames_.empty() && parsed.is_string()) {
          Frame& f = frames_.back();
          f.last_key = parsed.get<std::string>();
          if (!f.keys.insert(f.last_key).second && duplicate_->empty()) {
            *duplicate_ = Join(f.path, f.last_key);
          }
        }
        break;
      case E::value:
        break;
    }
    return true;
  }

  explicit DuplicateKeyFinder(std::string* duplicate) : duplicate_(duplicate) {}

 private:
  struct Frame {
    std::string path;
    std::set<std::string> keys;
    std::string last_key;
    bool is_array = false;
  };
  std::vector<Frame> frames_;
  std::string* duplicate_;
};

bool LooksLikePresetName(std::string_view s) {
  return s.find('/') == std::string_view::npos && s.find('.') == std::string_view::npos;
}

}  // namespace

PolicyFormat DetectPolicyFormat(std::string_view path, std::string_view content) {
  if (absl::EndsWithIgnoreCase(ToAbsl(path), ".json")) return PolicyFormat::kJson;
  if (absl::EndsWithIgnoreCase(ToAbsl(path), ".toml")) return PolicyFormat::kToml;
  size_t first = content.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && content[first] == '{') return PolicyFormat::kJson;
  return PolicyFormat::kToml;
}

Json PolicyToJsonValue(const SandboxPolicy& p) {
  Json j = Json::object();
  j["seccomp"] = std::string(SeccompProfileName(p.seccomp));
  Json& fs = j["filesystem"] = Json::object();
  fs["read_only"] = p.filesystem.read_only;
  fs["read_write"] = p.filesystem.read_write;
  fs["executable"] = p.filesystem.executable;
  fs["hidden"] = p.filesystem.hidden;
  fs["read_only_root"] = p.filesystem.read_only_root;
  fs["landlock"] = p.filesystem.landlock;
  Json& net = j["network"] = Json::object();
  net["mode"] = std::string(NetworkModeName(p.network.mode));
  if (p.network.tcp_bind_ports) net["tcp_bind_ports"] = *p.network.tcp_bind_ports;
  if (p.network.tcp_connect_ports) net["tcp_connect_ports"] = *p.network.tcp_connect_ports;
  // Only when set, so files of policies without egress rules stay as they were.
  if (!(p.egress == EgressPolicy{})) {
    const EgressPolicy& e = p.egress;
    Json& eg = j["egress"] = Json::object();
    eg["allow_hosts"] = e.allow_hosts;
    eg["allow_ports"] = e.allow_ports;
    Json& schemes = eg["schemes"] = Json::object();
    for (const auto& [host, scheme] : e.schemes) schemes[host] = scheme;
    Json creds = Json::array();
    for (const CredentialRule& c : e.credentials) {
      Json r = Json::object();
      r["host"] = c.host;
      r["header"] = c.header;
      r["source"] = c.source;
      if (!c.prefix.empty()) r["prefix"] = c.prefix;
      if (!c.placeholder.empty()) r["placeholder"] = c.placeholder;
      creds.push_back(std::move(r));
    }
    eg["credentials"] = std::move(creds);
    Json& resolve = eg["resolve"] = Json::object();
    for (const auto& [host, addr] : e.resolve) resolve[host] = addr;
    if (!e.upstream_ca_file.empty()) eg["upstream_ca_file"] = e.upstream_ca_file;
  }
  // Only when set, like egress.
  if (!p.secrets.empty()) {
    Json secrets = Json::array();
    for (const SecretInjection& s : p.secrets) {
      Json r = Json::object();
      r["deliver"] = std::string(SecretDeliveryName(s.deliver));
      if (!s.target.empty()) r["target"] = s.target;
      r["source"] = s.source;
      secrets.push_back(std::move(r));
    }
    j["secrets"] = std::move(secrets);
  }
  Json& scopes = j["landlock_scopes"] = Json::object();
  scopes["abstract_unix_socket"] = p.landlock_scopes.abstract_unix_socket;
  scopes["signal"] = p.landlock_scopes.signal;
  Json& lim = j["limits"] = Json::object();
  const ResourceLimits& l = p.limits;
  if (l.memory_bytes) lim["memory_bytes"] = *l.memory_bytes;
  if (l.cpu_cores) lim["cpu_cores"] = *l.cpu_cores;
  if (l.cpu_weight) lim["cpu_weight"] = *l.cpu_weight;
  if (l.max_pids) lim["max_pids"] = *l.max_pids;
  if (l.wall_time_ms) lim["wall_time_ms"] = *l.wall_time_ms;
  lim["max_output_bytes"] = l.max_output_bytes;
  if (l.max_open_files) lim["max_open_files"] = *l.max_open_files;
  if (l.max_file_size_bytes) lim["max_file_size_bytes"] = *l.max_file_size_bytes;
  Json& env = j["environment"] = Json::object();
  env["allow"] = p.environment.allow;
  Json& set = env["set"] = Json::object();
  for (const auto& [k, v] : p.environment.set) set[k] = v;
  j["working_directory"] = p.working_directory;
  j["uid"] = p.uid;
  j["gid"] = p.gid;
  j["hostname"] = p.hostname;
  Json controls = Json::array();
  for (Control c : p.optional_controls) controls.push_back(std::string(ControlName(c)));
  j["optional_controls"] = std::move(controls);
  return j;
}

absl::StatusOr<SandboxPolicy> PolicyFromJsonValue(const Json& v, std::string_view key_prefix) {
  const std::string prefix(key_prefix);
  if (!v.is_object()) {
    return Expected(prefix.empty() ? "policy" : prefix, "a table of policy keys", v);
  }
  SandboxPolicy p;
  if (auto it = v.find("extends"); it != v.end()) {
    std::string k = Join(prefix, "extends");
    if (!it->is_string()) return Expected(k, "\"minimal\", \"basic\" or \"strict\"", *it);
    absl::StatusOr<SandboxPolicy> base = SandboxPolicy::FromPreset(it->get<std::string>());
    if (!base.ok()) return Expected(k, "\"minimal\", \"basic\" or \"strict\"", *it);
    p = *std::move(base);
  }
  for (const auto& [name, item] : v.items()) {
    std::string k = Join(prefix, name);
    if (name == "extends") {
      continue;  // applied first, above
    } else if (name == "seccomp") {
      if (!item.is_string()) return Expected(k, "\"none\", \"basic\" or \"strict\"", item);
      absl::StatusOr<SeccompProfile> s = ParseSeccompProfile(item.get<std::string>());
      if (!s.ok()) return Expected(k, "\"none\", \"basic\" or \"strict\"", item);
      p.seccomp = *s;
    } else if (name == "filesystem") {
      KAVACH_RETURN_IF_ERROR(DecodeFilesystem(item, k, p.filesystem));
    } else if (name == "network") {
      KAVACH_RETURN_IF_ERROR(DecodeNetwork(item, k, p.network));
    } else if (name == "egress") {
      KAVACH_RETURN_IF_ERROR(DecodeEgress(item, k, p.egress));
    } else if (name == "secrets") {
      if (!item.is_array()) return Expected(k, "a list of tables", item);
      std::vector<SecretInjection> secrets(item.size());
      for (size_t i = 0; i < item.size(); ++i) {
        KAVACH_RETURN_IF_ERROR(DecodeSecret(item[i], absl::StrCat(k, "[", i, "]"), secrets[i]));
      }
      p.secrets = std::move(secrets);
    } else if (name == "landlock_scopes") {
      KAVACH_RETURN_IF_ERROR(DecodeScopes(item, k, p.landlock_scopes));
    } else if (name == "limits") {
      KAVACH_RETURN_IF_ERROR(DecodeLimits(item, k, p.limits));
    } else if (name == "environment") {
      KAVACH_RETURN_IF_ERROR(DecodeEnvironment(item, k, p.environment));
    } else if (name == "working_directory") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, p.working_directory));
    } else if (name == "uid") {
      // (uid_t)-1 means "unchanged" to the kernel, so the range stops below it.
      KAVACH_RETURN_IF_ERROR(
          ReadInt(item, k, 0, uint64_t{0xFFFFFFFE}, p.uid, "an integer in 0..4294967294"));
    } else if (name == "gid") {
      KAVACH_RETURN_IF_ERROR(
          ReadInt(item, k, 0, uint64_t{0xFFFFFFFE}, p.gid, "an integer in 0..4294967294"));
    } else if (name == "hostname") {
      KAVACH_RETURN_IF_ERROR(Read(item, k, p.hostname));
    } else if (name == "optional_controls") {
      KAVACH_RETURN_IF_ERROR(DecodeControls(item, k, p.optional_controls));
    } else {
      return UnknownKey(k, {"extends", "seccomp", "filesystem", "network", "egress", "secrets",
                            "landlock_scopes", "limits", "environment", "working_directory", "uid",
                            "gid", "hostname", "optional_controls"});
    }
  }
  absl::Status valid = p.Validate();
  if (!valid.ok()) {
    if (prefix.empty()) return valid;
    return absl::InvalidArgumentError(absl::StrCat(prefix, ".", valid.message()));
  }
  return p;
}

}  // namespace internal

absl::StatusOr<SandboxPolicy> PolicyFromJson(std::string_view json) {
  std::string duplicate;
  internal::Json tree;
  try {
    tree =
        internal::Json::parse(json.begin(), json.end(), internal::DuplicateKeyFinder(&duplicate));
  } catch (const internal::Json::parse_error& e) {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string_view msg = e.what();
    if (size_t close = msg.find("] "); close != std::string_view::npos)
      msg.remove_prefix(close + 2);
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", ToAbsl(msg)));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(duplicate, ": key given twice"));
  }
  return internal::PolicyFromJsonValue(tree);
}

std::string PolicyToJson(const SandboxPolicy& policy) {
  return internal::PolicyToJsonValue(policy).dump(2) + "\n";
}

absl::StatusOr<SandboxPolicy> PolicyFromToml(std::string_view toml_text) {
  toml::table table;
  try {
    table = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    const toml::source_position pos = e.source().begin;
    return absl::InvalidArgumentError(absl::StrCat("invalid TOML at line ", pos.line, ", column ",
                                                   pos.column, ": ", ToAbsl(e.description())));
  }
  absl::StatusOr<internal::Json> tree = internal::TomlToJson(table, "");
  if (!tree.ok()) return tree.status();
  return internal::PolicyFromJsonValue(*tree);
}

std::string PolicyToToml(const SandboxPolicy& policy) {
  toml::table table;
  internal::JsonToToml(internal::PolicyToJsonValue(policy), table, "");
  std::ostringstream out;
  // Sub-tables flush left: policy files are short and diff better that way.
  out << toml::toml_formatter(
             table, toml::toml_formatter::default_flags & ~toml::format_flags::indent_sub_tables)
      << "\n";
  return out.str();
}

absl::StatusOr<SandboxPolicy> LoadPolicy(std::string_view preset_or_path) {
  if (absl::StatusOr<SandboxPolicy> preset = SandboxPolicy::FromPreset(preset_or_path);
      preset.ok()) {
    return preset;
  }
  const std::string path(preset_or_path);
  absl::StatusOr<std::string> content = sys::ReadFile(path);
  if (!content.ok()) {
    if (absl::IsNotFound(content.status())) {
      if (internal::LooksLikePresetName(path)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown policy: ", path,
                         " (use minimal, basic, strict, or the path of a .json or .toml file)"));
      }
      return absl::NotFoundError(absl::StrCat("policy file not found: ", path));
    }
    return content.status();
  }
  absl::StatusOr<SandboxPolicy> policy =
      internal::DetectPolicyFormat(path, *content) == internal::PolicyFormat::kJson
          ? PolicyFromJson(*content)
          : PolicyFromToml(*content);
  if (!policy.ok()) return internal::Prefixed(policy.status(), path);
  return policy;
}

absl::Status SavePolicy(const SandboxPolicy& policy, std::string_view path_view) {
  const std::string path(path_view);
  std::string text;
  if (absl::EndsWithIgnoreCase(path, ".json")) {
    text = PolicyToJson(policy);
  } else if (absl::EndsWithIgnoreCase(path, ".toml")) {
    text = PolicyToToml(policy);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot tell the format of ", path, ": use a .json or .toml extension"));
  }
  // Saving what could not be loaded back would only move the error.
  KAVACH_RETURN_IF_ERROR(policy.Validate());

  // Temp file in the same directory, then rename: readers see the old file or
  // the new one, never a half-written policy.
  std::string tmp = absl::StrCat(path, ".tmp-XXXXXX");
  sys::UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return sys::ErrnoStatus(errno, absl::StrCat("create temporary file for ", path));
  auto fail = [&](absl::Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), 0644) != 0) return fail(sys::ErrnoStatus(errno, "fchmod " + tmp));
  if (absl::Status s = sys::WriteAll(fd.get(), text); !s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0) return fail(sys::ErrnoStatus(errno, "fsync " + tmp));
  if (::close(fd.Release()) != 0) return fail(sys::ErrnoStatus(errno, "close " + tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(sys::ErrnoStatus(errno, absl::StrCat("rename ", tmp, " to ", path)));
  }
  return absl::OkStatus();
}

}  // namespace kavach

#undef KAVACH_RETURN_IF_ERROR

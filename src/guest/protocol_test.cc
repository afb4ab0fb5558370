// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "guest/protocol.h"

#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::guest {
namespace {

using ::testing::HasSubstr;

std::string Header(uint32_t magic, uint8_t version, uint8_t type, uint16_t flags, uint32_t length) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(magic >> (8 * i)));
  s.push_back(static_cast<char>(version));
  s.push_back(static_cast<char>(type));
  s.push_back(static_cast<char>(flags & 0xff));
  s.push_back(static_cast<char>(flags >> 8));
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(length >> (8 * i)));
  return s;
}

TEST(FrameReader, RoundTripsFramesFedByteByByte) {
  Output out{7, std::string("hi\0there", 8)};
  std::string wire =
      EncodeFrame(FrameType::kStdout, EncodeOutput(out)) + EncodeFrame(FrameType::kPong, "");
  FrameReader r(kHostLimits);
  std::vector<Frame> frames;
  for (char c : wire) {
    r.Feed(std::string_view(&c, 1));
    Frame f;
    while (r.Next(&f)) frames.push_back(f);
  }
  ASSERT_FALSE(r.failed()) << r.error();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].type, FrameType::kStdout);
  Output got;
  ASSERT_EQ(DecodeOutput(frames[0].payload, kHostLimits, &got), "");
  EXPECT_EQ(got.id, 7u);
  EXPECT_EQ(got.data, out.data);
  EXPECT_EQ(frames[1].type, FrameType::kPong);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReader, IncompleteFrameWaitsWithoutError) {
  std::string wire = EncodeFrame(FrameType::kPong, "abc");
  FrameReader r(kHostLimits);
  r.Feed(wire.substr(0, wire.size() - 1));
  Frame f;
  EXPECT_FALSE(r.Next(&f));
  EXPECT_FALSE(r.failed());
  r.Feed(wire.substr(wire.size() - 1));
  EXPECT_TRUE(r.Next(&f));
}

TEST(FrameReader, GarbageIsRejectedAtTheFirstWrongByte) {
  FrameReader r(kHostLimits);
  r.Feed("[    0.000000] Linux version");  // a kernel console on the agent port
  Frame f;
  EXPECT_FALSE(r.Next(&f));
  EXPECT_THAT(r.error(), HasSubstr("bad frame magic"));
  FrameReader early(kHostLimits);
  early.Feed("KX");  // two bytes are enough to know
  EXPECT_FALSE(early.Next(&f));
  EXPECT_TRUE(early.failed());
}

TEST(FrameReader, StaysFailedAfterAnError) {
  FrameReader r(kHostLimits);
  r.Feed("garbage!!!!!!!");
  Frame f;
  EXPECT_FALSE(r.Next(&f));
  r.Feed(EncodeFrame(FrameType::kPong, ""));
  EXPECT_FALSE(r.Next(&f));
  EXPECT_TRUE(r.failed());
}

TEST(FrameReader, RejectsWrongVersionUnknownTypeAndFlags) {
  Frame f;
  {
    FrameReader r(kHostLimits);
    r.Feed(Header(kMagic, kVersion + 1, 1, 0, 0));
    EXPECT_FALSE(r.Next(&f));
    EXPECT_THAT(r.error(),
                HasSubstr("unsupported protocol version " + std::to_string(kVersion + 1)));
  }
  {
    FrameReader r(kHostLimits);
    r.Feed(Header(kMagic, kVersion, 200, 0, 0));
    EXPECT_FALSE(r.Next(&f));
    EXPECT_THAT(r.error(), HasSubstr("unknown frame type 200"));
  }
  {
    FrameReader r(kHostLimits);
    r.Feed(Header(kMagic, kVersion, 0, 0, 0));
    EXPECT_FALSE(r.Next(&f));
    EXPECT_THAT(r.error(), HasSubstr("unknown frame type 0"));
  }
  {
    FrameReader r(kHostLimits);
    r.Feed(Header(kMagic, kVersion, 3, 1, 0));
    EXPECT_FALSE(r.Next(&f));
    EXPECT_THAT(r.error(), HasSubstr("flags"));
  }
}

TEST(FrameReader, OversizedFrameIsRejectedFromItsHeaderAlone) {
  FrameReader r(kHostLimits);
  // A 4 GiB frame announced: refused before a single payload byte arrives,
  // so a hostile guest cannot make the host buffer it.
  r.Feed(Header(kMagic, kVersion, static_cast<uint8_t>(FrameType::kStdout), 0, 0xffffffffu));
  Frame f;
  EXPECT_FALSE(r.Next(&f));
  EXPECT_THAT(r.error(), HasSubstr("stdout frame of 4294967295 bytes exceeds the limit"));
  FrameReader at_limit(kHostLimits);
  at_limit.Feed(Header(kMagic, kVersion, 3, 0, kHostLimits.max_payload));
  EXPECT_FALSE(at_limit.Next(&f));
  EXPECT_FALSE(at_limit.failed());  // exactly the limit is allowed, just incomplete
}

TEST(Payloads, ExecRoundTrips) {
  ExecRequest in;
  in.id = 42;
  in.argv = {"/bin/sh", "-c", "echo hi"};
  in.env = {"PATH=/usr/bin:/bin", "A="};
  in.cwd = "/work";
  in.uid = 1000;
  in.gid = 1001;
  in.timeout_ms = 5000;
  in.has_stdin = true;
  in.stdin_data = std::string("x\0y", 3);
  in.max_open_files = 1024;
  in.max_file_size = 1 << 30;
  in.max_processes = 64;
  in.max_memory = 1 << 29;
  in.no_new_privs = true;
  in.landlock_handled = 0x3fff;
  in.landlock_rules = {{0x7, "/usr"}, {0x3fff, "/work"}};
  in.seccomp_bpf = std::string(16, 'b');
  ExecRequest out;
  ASSERT_EQ(DecodeExec(EncodeExec(in), kGuestLimits, &out), "");
  EXPECT_EQ(out.id, 42u);
  EXPECT_EQ(out.argv, in.argv);
  EXPECT_EQ(out.env, in.env);
  EXPECT_EQ(out.cwd, "/work");
  EXPECT_EQ(out.uid, 1000u);
  EXPECT_EQ(out.gid, 1001u);
  EXPECT_EQ(out.timeout_ms, 5000u);
  EXPECT_TRUE(out.has_stdin);
  EXPECT_EQ(out.stdin_data, in.stdin_data);
  EXPECT_EQ(out.max_open_files, 1024u);
  EXPECT_EQ(out.max_file_size, 1u << 30);
  EXPECT_EQ(out.max_processes, 64u);
  EXPECT_EQ(out.max_memory, 1u << 29);
  EXPECT_TRUE(out.no_new_privs);
  EXPECT_EQ(out.landlock_handled, 0x3fffu);
  EXPECT_EQ(out.landlock_rules, in.landlock_rules);
  EXPECT_EQ(out.seccomp_bpf, in.seccomp_bpf);
}

TEST(Payloads, ExecConfinementFieldsAreChecked) {
  ExecRequest in;
  in.argv = {"/bin/true"};
  ExecRequest out;
  in.seccomp_bpf = std::string(12, 'b');
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("whole number"));
  in.seccomp_bpf = std::string(kMaxSeccompBytes + 8, 'b');
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("exceeds"));
  in.seccomp_bpf.clear();
  in.landlock_handled = 0x1;
  in.landlock_rules = {{0x2, "/usr"}};
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("does not handle"));
  in.landlock_rules = {{0x1, "relative"}};
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("not an absolute path"));
}

TEST(Payloads, ExecRejectsMalformedFields) {
  ExecRequest in;
  in.argv = {"/bin/true"};
  ExecRequest out;
  in.argv = {};
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("argv: empty"));
  in.argv = {std::string("a\0b", 3)};
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("NUL"));
  in.argv = {"/bin/true"};
  in.env = {"NOEQUALS"};
  EXPECT_THAT(DecodeExec(EncodeExec(in), kGuestLimits, &out), HasSubstr("KEY=VALUE"));
  in.env = {};
  std::string wire = EncodeExec(in);
  EXPECT_THAT(DecodeExec(wire + "x", kGuestLimits, &out), HasSubstr("1 trailing bytes"));
  EXPECT_THAT(DecodeExec(wire.substr(0, wire.size() - 3), kGuestLimits, &out),
              HasSubstr("truncated"));
}

TEST(Payloads, ListAndStringCapsAreEnforced) {
  Limits small{1 << 20, 8, 2};
  ExecRequest in;
  in.argv = {"a", "b", "c"};
  ExecRequest out;
  EXPECT_THAT(DecodeExec(EncodeExec(in), small, &out), HasSubstr("argv: count 3 exceeds 2"));
  in.argv = {"123456789"};
  EXPECT_THAT(DecodeExec(EncodeExec(in), small, &out), HasSubstr("length 9 exceeds 8"));
  // A count the payload cannot hold is refused before allocating for it.
  std::string p(8, '\0');  // id
  p += std::string("\xff\xff\x00\x00", 4);
  Limits wide{1 << 20, 8, 1 << 20};
  EXPECT_THAT(DecodeExec(p, wide, &out), HasSubstr("does not fit the payload"));
}

TEST(Payloads, OutputChunkIsCapped) {
  Output big{1, std::string(kMaxChunk + 1, 'x')};
  Output got;
  EXPECT_THAT(DecodeOutput(EncodeOutput(big), kHostLimits, &got), HasSubstr("exceeds"));
  Output ok{1, std::string(kMaxChunk, 'x')};
  std::string frame = EncodeFrame(FrameType::kStdout, EncodeOutput(ok));
  FrameReader r(kHostLimits);
  r.Feed(frame);
  Frame f;
  ASSERT_TRUE(r.Next(&f)) << r.error();
  EXPECT_EQ(DecodeOutput(f.payload, kHostLimits, &got), "");
  EXPECT_EQ(got.data.size(), kMaxChunk);
}

TEST(Payloads, ExitIsValidated) {
  ExitStatus e{3, 0, 0, false, 10, 20, 30};
  ExitStatus got;
  ASSERT_EQ(DecodeExit(EncodeExit(e), kHostLimits, &got), "");
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.cpu_us, 10u);
  e.exit_code = 300;
  EXPECT_THAT(DecodeExit(EncodeExit(e), kHostLimits, &got), HasSubstr("out of range"));
  e.exit_code = -1;
  e.signal = 0;
  EXPECT_THAT(DecodeExit(EncodeExit(e), kHostLimits, &got), HasSubstr("exactly one"));
  e.signal = 9;
  EXPECT_EQ(DecodeExit(EncodeExit(e), kHostLimits, &got), "");
  EXPECT_EQ(got.signal, 9);
  std::string p = EncodeExit(e);
  p[16] = 7;  // timed_out: after id (8), exit_code (4) and signal (4)
  EXPECT_THAT(DecodeExit(p, kHostLimits, &got), HasSubstr("boolean 7"));
}

TEST(Payloads, HelloChecksTheProtocolVersion) {
  Hello h;
  h.kernel_release = "6.1.0-57-amd64";
  h.agent = "kavach-agent 1";
  Hello got;
  ASSERT_EQ(DecodeHello(EncodeHello(h), kHostLimits, &got), "");
  EXPECT_EQ(got.kernel_release, "6.1.0-57-amd64");
  h.protocol = 9;
  EXPECT_THAT(DecodeHello(EncodeHello(h), kHostLimits, &got), HasSubstr("protocol 9"));
  h.protocol = kVersion;
  h.kernel_release = std::string(300, 'k');
  EXPECT_THAT(DecodeHello(EncodeHello(h), kHostLimits, &got), HasSubstr("exceeds 256"));
}

TEST(Payloads, SmallMessagesRoundTrip) {
  Reseed rs{std::string(kMaxSeed, 's')};
  Reseed rs_got;
  EXPECT_EQ(DecodeReseed(EncodeReseed(rs), kGuestLimits, &rs_got), "");
  EXPECT_EQ(rs_got.seed, rs.seed);
  rs.seed.push_back('!');
  EXPECT_THAT(DecodeReseed(EncodeReseed(rs), kGuestLimits, &rs_got), HasSubstr("exceeds 512"));
  Kill k{5};
  Kill k_got;
  EXPECT_EQ(DecodeKill(EncodeKill(k), kGuestLimits, &k_got), "");
  EXPECT_EQ(k_got.id, 5u);
  EXPECT_THAT(DecodeKill("", kGuestLimits, &k_got), HasSubstr("truncated"));
  Error e{1, "no such file"};
  Error e_got;
  EXPECT_EQ(DecodeError(EncodeError(e), kHostLimits, &e_got), "");
  EXPECT_EQ(e_got.message, "no such file");
  ReseedDone d{256};
  ReseedDone d_got;
  EXPECT_EQ(DecodeReseedDone(EncodeReseedDone(d), kHostLimits, &d_got), "");
  EXPECT_EQ(d_got.credited_bits, 256u);
}

// Deterministic mutation fuzzing of the host-side reader and decoders (runs
// in every build, and under ASan/UBSan in CI's sanitizer run): whatever a
// guest sends, the reader neither crashes nor buffers more than one capped
// frame, and every decoder either accepts or names what is wrong.
TEST(FrameReaderFuzz, MutatedStreamsNeverCrashOrOverBuffer) {
  ExecRequest ex;
  ex.argv = {"/bin/sh", "-c", "echo hi"};
  ex.env = {"A=1"};
  ex.landlock_handled = 0xff;
  ex.landlock_rules = {{0x7, "/usr"}};
  Hello h;
  h.kernel_release = "6.1.0";
  h.agent = "a";
  std::string seed_stream = EncodeFrame(FrameType::kHello, EncodeHello(h)) +
                            EncodeFrame(FrameType::kStdout, EncodeOutput({1, "out"})) +
                            EncodeFrame(FrameType::kStderr, EncodeOutput({1, "err"})) +
                            EncodeFrame(FrameType::kExit, EncodeExit({1, 0, 0, false, 1, 2, 3})) +
                            EncodeFrame(FrameType::kExec, EncodeExec(ex)) +
                            EncodeFrame(FrameType::kError, EncodeError({1, "boom"})) +
                            EncodeFrame(FrameType::kReseedDone, EncodeReseedDone({8}));
  std::mt19937 rng(20261204);
  size_t frames = 0, failures = 0, decoded = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = seed_stream;
    int mutations = 1 + static_cast<int>(rng() % 8);
    for (int m = 0; m < mutations; ++m) {
      size_t at = rng() % s.size();
      switch (rng() % 5) {
        case 0:
          s[at] = static_cast<char>(rng());
          break;
        case 1:
          s[at] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 2:
          s.erase(at, 1 + rng() % 16);
          break;
        case 3:
          s.insert(at, std::string(1 + rng() % 16, static_cast<char>(rng())));
          break;
        case 4:
          s.resize(at + 1);
          break;
      }
      if (s.empty()) s = "x";
    }
    FrameReader r(kHostLimits);
    size_t pos = 0;
    while (pos < s.size() && !r.failed()) {
      size_t n = 1 + rng() % 64;
      r.Feed(std::string_view(s).substr(pos, n));
      pos += n;
      Frame f;
      while (r.Next(&f)) {
        ++frames;
        ASSERT_LE(f.payload.size(), kHostLimits.max_payload);
        std::string err;
        switch (f.type) {
          case FrameType::kHello: {
            Hello v;
            err = DecodeHello(f.payload, kHostLimits, &v);
            break;
          }
          case FrameType::kStdout:
          case FrameType::kStderr: {
            Output v;
            err = DecodeOutput(f.payload, kHostLimits, &v);
            break;
          }
          case FrameType::kExit: {
            ExitStatus v;
            err = DecodeExit(f.payload, kHostLimits, &v);
            break;
          }
          case FrameType::kExec: {
            ExecRequest v;
            err = DecodeExec(f.payload, kGuestLimits, &v);
            break;
          }
          case FrameType::kError: {
            Error v;
            err = DecodeError(f.payload, kHostLimits, &v);
            break;
          }
          default: {
            ReseedDone v;
            err = DecodeReseedDone(f.payload, kHostLimits, &v);
          }
        }
        (err.empty() ? decoded : rejected)++;
      }
      // Never more than one capped frame (plus the last chunk) held back.
      ASSERT_LE(r.buffered(), kHeaderSize + kHostLimits.max_payload + 64);
    }
    if (r.failed()) {
      ++failures;
      EXPECT_FALSE(r.error().empty());
    }
  }
  // The corpus exercised all outcomes.
  EXPECT_GT(frames, 1000u);
  EXPECT_GT(failures, 1000u);
  EXPECT_GT(decoded, 1000u);
  EXPECT_GT(rejected, 100u);
}

TEST(Payloads, StartCarriesIdentityClockAndMountsAndCapsTheHostname) {
  Start in;
  in.hostname = "kavach-0123abcd";
  in.machine_id = std::string(32, 'f');
  in.realtime_ns = 1796425614335585921ull;
  in.mounts = "link:/bin:usr/bin,ro:kv0:/usr,rw:kv1:/work,tmp:/tmp,roroot";
  Start out;
  ASSERT_EQ(DecodeStart(EncodeStart(in), kGuestLimits, &out), "");
  EXPECT_EQ(out.hostname, in.hostname);
  EXPECT_EQ(out.machine_id, in.machine_id);
  EXPECT_EQ(out.realtime_ns, in.realtime_ns);
  EXPECT_EQ(out.mounts, in.mounts);
  EXPECT_FALSE(out.network);
  in.network = true;
  ASSERT_EQ(DecodeStart(EncodeStart(in), kGuestLimits, &out), "");
  EXPECT_TRUE(out.network);
  std::string bad = EncodeStart(in);
  bad.back() = 2;  // the network flag is a boolean
  EXPECT_THAT(DecodeStart(bad, kGuestLimits, &out), HasSubstr("network"));
  in.hostname = std::string(65, 'h');
  EXPECT_THAT(DecodeStart(EncodeStart(in), kGuestLimits, &out), HasSubstr("hostname"));
  StartDone d;
  ASSERT_EQ(DecodeStartDone(EncodeStartDone({"mount kv1 on /work: ENOENT"}), kHostLimits, &d), "");
  EXPECT_EQ(d.errors, "mount kv1 on /work: ENOENT");
  EXPECT_STREQ(FrameTypeName(FrameType::kStart), "start");
  EXPECT_TRUE(IsKnownFrameType(static_cast<uint8_t>(FrameType::kStartDone)));
}

TEST(Payloads, ExecCarriesTheAbstractSocketProbeFlag) {
  ExecRequest in;
  in.id = 7;
  in.argv = {"probe"};
  in.probe_abstract_socket = true;
  ExecRequest out;
  ASSERT_EQ(DecodeExec(EncodeExec(in), kGuestLimits, &out), "");
  EXPECT_TRUE(out.probe_abstract_socket);
  ExitStatus e;
  e.id = 7;
  e.exit_code = 0;
  e.setup_us = 1250;
  e.reap_us = 20;
  e.oom_killed = true;
  ExitStatus back;
  ASSERT_EQ(DecodeExit(EncodeExit(e), kHostLimits, &back), "");
  EXPECT_EQ(back.setup_us, 1250u);
  EXPECT_EQ(back.reap_us, 20u);
  EXPECT_TRUE(back.oom_killed);
}

// The agent's transport choice from /proc/cmdline (Firecracker: vsock).
TEST(VsockChannelPort, ParsesTheLastChannelWordAndRefusesMalformedPorts) {
  EXPECT_EQ(VsockChannelPort("console=ttyS0 quiet kavach.channel=vsock:1024 panic=-1\n"), 1024u);
  EXPECT_EQ(VsockChannelPort("kavach.channel=vsock:52"), 52u);
  EXPECT_EQ(VsockChannelPort("a\tkavach.channel=vsock:4294967294\n"), 4294967294u);
  EXPECT_EQ(VsockChannelPort(""), 0u);
  EXPECT_EQ(VsockChannelPort("console=ttyS0 quiet"), 0u);  // virtio-serial
  for (const char* bad :
       {"kavach.channel=vsock:", "kavach.channel=vsock:0", "kavach.channel=vsock:4294967295",
        "kavach.channel=vsock:99999999999", "kavach.channel=vsock:12a", "kavach.channel=vsock:-1",
        "kavach.channel=serial", "xkavach.channel=vsock:5", "kavach.channel=VSOCK:5"}) {
    EXPECT_EQ(VsockChannelPort(bad), 0u) << bad;
  }
  EXPECT_EQ(VsockChannelPort("kavach.channel=vsock:5 kavach.channel=vsock:7"), 7u);
  EXPECT_EQ(VsockChannelPort("kavach.channel=vsock:5 kavach.channel=serial"), 0u);
}

}  // namespace
}  // namespace kavach::guest

// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/init_plan_codec.h"

#include <cstdint>
#include <cstring>

namespace kavach::internal {
namespace {

inline constexpr uint64_t kImageMagic = 0x6b61766163682d70ull;  // "kavach-p"
inline constexpr size_t kAlign = 16;

// What the decoder checks before it trusts the struct layout.
struct ImageHeader {
  uint64_t magic;
  uint64_t size;  // of the whole image
  uint32_t plan_size;
  uint32_t root_step_size;
  uint32_t landlock_path_size;
  uint32_t filter_size;
};

inline constexpr size_t kPlanOffset = (sizeof(ImageHeader) + kAlign - 1) / kAlign * kAlign;

#if !defined(KAVACH_INIT_PROGRAM)
// Pointer fields hold 1 + offset in the image (0: null).
template <typename T>
T* AsOffset(size_t offset) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(offset + 1));
}

class ImageWriter {
 public:
  explicit ImageWriter(std::string& out) : out_(out) {}

  size_t Append(const void* data, size_t n, size_t align) {
    out_.resize((out_.size() + align - 1) / align * align, '\0');
    const size_t at = out_.size();
    out_.append(static_cast<const char*>(data), n);
    return at;
  }
  // A C string (or `n` bytes of data), always followed by a NUL.
  template <typename T>
  void String(T*& field, size_t n) {
    if (field == nullptr) return;
    const size_t at = Append(field, n, 1);
    out_.push_back('\0');
    field = AsOffset<T>(at);
  }
  template <typename T>
  void String(T*& field) {
    if (field != nullptr) String(field, std::strlen(field));
  }
  template <typename T>
  T* At(size_t offset) {
    return reinterpret_cast<T*>(out_.data() + offset);
  }

 private:
  std::string& out_;
};

#endif  // !KAVACH_INIT_PROGRAM

// Decoding: the image is only read. Structs that hold pointers are copied
// out of it before their pointers are resolved, so no patch can change
// bytes a check has already passed (a damaged image whose arrays overlap
// cannot turn a checked length into something else).
class ImageReader {
 public:
  ImageReader(const char* buf, size_t len) : buf_(buf), len_(len) {}

  // The address of `count` objects of type T at encoded `field`, or false.
  template <typename T>
  bool Array(const T*& field, size_t count) const {
    const uintptr_t encoded = reinterpret_cast<uintptr_t>(field);
    if (encoded == 0) return count == 0;
    const size_t offset = encoded - 1;
    if (offset >= len_ || count > (len_ - offset) / sizeof(T)) return false;
    if (reinterpret_cast<uintptr_t>(buf_ + offset) % alignof(T) != 0) return false;
    field = reinterpret_cast<const T*>(buf_ + offset);
    return true;
  }
  // `n` bytes followed by a NUL.
  bool Bytes(const char*& field, size_t n) const {
    const uintptr_t encoded = reinterpret_cast<uintptr_t>(field);
    if (encoded == 0) return n == 0;
    const size_t offset = encoded - 1;
    if (offset >= len_ || n >= len_ - offset || buf_[offset + n] != '\0') return false;
    field = buf_ + offset;
    return true;
  }
  // A NUL-terminated string.
  bool String(const char*& field) const {
    const uintptr_t encoded = reinterpret_cast<uintptr_t>(field);
    if (encoded == 0) return true;
    const size_t offset = encoded - 1;
    if (offset >= len_ || std::memchr(buf_ + offset, '\0', len_ - offset) == nullptr) return false;
    field = buf_ + offset;
    return true;
  }
  // Copies `count` objects at encoded `field` into `out`.
  template <typename T>
  bool CopyArray(const T*& field, size_t count, T* out) const {
    const T* at = field;
    if (!Array(at, count)) return false;
    if (count > 0) std::memcpy(static_cast<void*>(out), at, count * sizeof(T));
    field = count > 0 ? out : nullptr;
    return true;
  }

 private:
  const char* buf_;
  size_t len_;
};

#if !defined(KAVACH_INIT_PROGRAM)
void EncodeFilter(ImageWriter& w, size_t plan_at, const sock_fprog* InitPlan::*member) {
  const sock_fprog* prog = w.At<InitPlan>(plan_at)->*member;
  if (prog == nullptr) return;
  sock_fprog copy = *prog;
  const size_t filter_at =
      copy.len == 0 ? 0
                    : w.Append(copy.filter, copy.len * sizeof(sock_filter), alignof(sock_filter));
  copy.filter = copy.len == 0 ? nullptr : AsOffset<sock_filter>(filter_at);
  const size_t prog_at = w.Append(&copy, sizeof copy, alignof(sock_fprog));
  w.At<InitPlan>(plan_at)->*member = AsOffset<const sock_fprog>(prog_at);
}
#endif  // !KAVACH_INIT_PROGRAM

bool DecodeFilter(const ImageReader& r, const sock_fprog*& field, sock_fprog* out) {
  if (field == nullptr) return true;
  if (!r.CopyArray(field, 1, out)) return false;
  const sock_filter* insns = out->filter;
  if (out->len == 0 ? insns != nullptr : !r.Array(insns, out->len)) return false;
  out->filter = const_cast<sock_filter*>(insns);
  return true;
}

}  // namespace

#if !defined(KAVACH_INIT_PROGRAM)
std::string EncodeInitPlan(const InitPlan& plan) {
  std::string out;
  ImageWriter w(out);
  ImageHeader header = {};
  header.magic = kImageMagic;
  header.plan_size = sizeof(InitPlan);
  header.root_step_size = sizeof(RootStep);
  header.landlock_path_size = sizeof(LandlockPathStep);
  header.filter_size = sizeof(sock_filter);
  w.Append(&header, sizeof header, kAlign);
  const size_t plan_at = w.Append(&plan, sizeof plan, kAlign);
  // `out` reallocates as it grows: the plan copy is re-found by offset.
  auto p = [&] { return w.At<InitPlan>(plan_at); };

  p()->control_fd = -1;  // the exec'd init finds it at fd 3
  if (plan.root_steps != nullptr && plan.root_step_count > 0) {
    const size_t steps_at =
        w.Append(plan.root_steps, sizeof(RootStep) * plan.root_step_count, alignof(RootStep));
    for (int i = 0; i < plan.root_step_count; ++i) {
      RootStep step = *w.At<RootStep>(steps_at + i * sizeof(RootStep));
      w.String(step.source);
      w.String(step.target);
      w.String(step.data, step.data_len);
      *w.At<RootStep>(steps_at + i * sizeof(RootStep)) = step;
    }
    p()->root_steps = AsOffset<const RootStep>(steps_at);
  } else {
    p()->root_steps = nullptr;
    p()->root_step_count = 0;
  }
  if (plan.landlock_paths != nullptr && plan.landlock_path_count > 0) {
    const size_t paths_at =
        w.Append(plan.landlock_paths, sizeof(LandlockPathStep) * plan.landlock_path_count,
                 alignof(LandlockPathStep));
    for (int i = 0; i < plan.landlock_path_count; ++i) {
      LandlockPathStep step = *w.At<LandlockPathStep>(paths_at + i * sizeof(LandlockPathStep));
      w.String(step.path);
      *w.At<LandlockPathStep>(paths_at + i * sizeof(LandlockPathStep)) = step;
    }
    p()->landlock_paths = AsOffset<const LandlockPathStep>(paths_at);
  } else {
    p()->landlock_paths = nullptr;
    p()->landlock_path_count = 0;
  }
  auto ports = [&](const uint16_t* InitPlan::*member, int InitPlan::*count) {
    if (plan.*member == nullptr || plan.*count <= 0) {
      p()->*member = nullptr;
      p()->*count = 0;
      return;
    }
    const size_t at = w.Append(plan.*member, sizeof(uint16_t) * plan.*count, alignof(uint16_t));
    p()->*member = AsOffset<const uint16_t>(at);
  };
  ports(&InitPlan::bind_ports, &InitPlan::bind_port_count);
  ports(&InitPlan::connect_ports, &InitPlan::connect_port_count);
  const char* InitPlan::*strings[] = {&InitPlan::mount_base, &InitPlan::root_tmpfs_options,
                                      &InitPlan::hostname, &InitPlan::landlock_canary,
                                      &InitPlan::abstract_canary};
  for (const char* InitPlan::*member : strings) {
    const char* s = plan.*member;
    w.String(s);
    p()->*member = s;
  }
  EncodeFilter(w, plan_at, &InitPlan::seccomp_init);
  EncodeFilter(w, plan_at, &InitPlan::seccomp);
  out.resize((out.size() + kAlign - 1) / kAlign * kAlign, '\0');
  w.At<ImageHeader>(0)->size = out.size();
  return out;
}
#endif  // !KAVACH_INIT_PROGRAM

bool DecodeInitPlan(const char* buf, size_t len, DecodedInitPlan* out) {
  if (buf == nullptr || out == nullptr || len < kPlanOffset + sizeof(InitPlan)) return false;
  ImageHeader header;
  std::memcpy(&header, buf, sizeof header);
  if (header.magic != kImageMagic || header.size != len || header.plan_size != sizeof(InitPlan) ||
      header.root_step_size != sizeof(RootStep) ||
      header.landlock_path_size != sizeof(LandlockPathStep) ||
      header.filter_size != sizeof(sock_filter)) {
    return false;
  }
  InitPlan& plan = out->plan;
  std::memcpy(static_cast<void*>(&plan), buf + kPlanOffset, sizeof plan);
  const ImageReader r(buf, len);
  if (plan.root_step_count < 0 || plan.root_step_count > kMaxRootSteps ||
      plan.landlock_path_count < 0 || plan.landlock_path_count > kMaxLandlockPaths ||
      plan.bind_port_count < 0 || plan.connect_port_count < 0) {
    return false;
  }
  if (!r.CopyArray(plan.root_steps, static_cast<size_t>(plan.root_step_count), out->root_steps)) {
    return false;
  }
  for (int i = 0; i < plan.root_step_count; ++i) {
    RootStep& step = out->root_steps[i];
    if (!r.String(step.source) || !r.String(step.target) || !r.Bytes(step.data, step.data_len)) {
      return false;
    }
  }
  if (!r.CopyArray(plan.landlock_paths, static_cast<size_t>(plan.landlock_path_count),
                   out->landlock_paths)) {
    return false;
  }
  for (int i = 0; i < plan.landlock_path_count; ++i) {
    if (!r.String(out->landlock_paths[i].path)) return false;
  }
  if (!r.Array(plan.bind_ports, static_cast<size_t>(plan.bind_port_count)) ||
      !r.Array(plan.connect_ports, static_cast<size_t>(plan.connect_port_count))) {
    return false;
  }
  if (!r.String(plan.mount_base) || !r.String(plan.root_tmpfs_options) ||
      !r.String(plan.hostname) || !r.String(plan.landlock_canary) ||
      !r.String(plan.abstract_canary)) {
    return false;
  }
  return DecodeFilter(r, plan.seccomp_init, &out->seccomp_init) &&
         DecodeFilter(r, plan.seccomp, &out->seccomp);
}

}  // namespace kavach::internal

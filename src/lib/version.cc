// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
// libkavach is the union of the layer libraries; this file only gives the
// shared library a translation unit of its own.
namespace kavach {
const char* LibraryVersion() { return "0.1.0"; }
}  // namespace kavach

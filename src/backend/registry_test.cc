// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

TEST(RegistryTest, NoopIsBuiltIn) {
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(BackendKind::kNoop);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->kind(), BackendKind::kNoop);
}

TEST(RegistryTest, KindsNotBuiltAreUnavailableWithTheProbeReason) {
  for (BackendKind kind :
       {BackendKind::kSgx, BackendKind::kSev, BackendKind::kTdx, BackendKind::kSyAgnos}) {
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(kind);
    ASSERT_FALSE(b.ok()) << static_cast<int>(kind);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(b.status().message(), HasSubstr(Probe(kind).reason));
    EXPECT_THAT(b.status().message(), HasSubstr(std::string(BackendKindName(kind))));
  }
}

}  // namespace
}  // namespace kavach::internal

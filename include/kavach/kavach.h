// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
// Everything a user of libkavach needs.
#ifndef KAVACH_KAVACH_H_
#define KAVACH_KAVACH_H_
#include "kavach/backend_kind.h"
#include "kavach/findings.h"
#include "kavach/gate_config.h"
#include "kavach/policy.h"
#include "kavach/resolve.h"
#include "kavach/sandbox.h"
#include "kavach/score.h"
#endif  // KAVACH_KAVACH_H_

// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
// (being written)

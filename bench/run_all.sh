#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# Runs every benchmark binary of a build (BUILD_DIR/bin/*_bench) and then the
# whole-command comparison. Used by `make bench`.
#
#   bench/run_all.sh [BUILD_DIR]
set -uo pipefail
build="${1:-build}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status=0
for bin in "${build}"/bin/*_bench; do
  [[ -x "${bin}" ]] || continue
  echo "=== ${bin##*/}"
  "${bin}" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true || status=1
  echo
done
echo "=== whole command"
"${here}/whole_command.sh" "${build}" || status=1
exit "${status}"

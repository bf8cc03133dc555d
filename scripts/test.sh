#!/usr/bin/env bash
# Builds Monocard and runs the whole lit suite (dialect, passes, importer,
# runtime, and the end-to-end tests against the numpy reference), then the
# runtime's fuzz harnesses: each replays its corpus and fuzzes for a bounded
# time (MONOCARD_FUZZ_SECONDS, default 15; 0 skips fuzzing) under
# ASan+UBSan (docs/fuzzing.md). Last, scripts/test-sanitized.sh builds
# build-asan/ with ASan+UBSan and runs the lit suite there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
/usr/lib/llvm-22/bin/lit -sv build/test
scripts/fuzz.sh --replay
seconds=${MONOCARD_FUZZ_SECONDS:-15}
if [ "$seconds" != 0 ]; then
  scripts/fuzz.sh --seconds "$seconds"
fi
scripts/test-sanitized.sh

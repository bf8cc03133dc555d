#!/usr/bin/env bash
# Builds Monocard and runs the whole lit suite (dialect, passes, importer,
# runtime, and the end-to-end tests against the numpy reference).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
/usr/lib/llvm-22/bin/lit -sv build/test

#!/usr/bin/env bash
# Builds Monocard with ASan+UBSan in build-asan/ (-DMONOCARD_SANITIZE=ON:
# the compiler libraries, tools, runtime rooms and every program
# monocard-compile links) and runs the lit suite under it; any sanitizer
# report fails its test (docs/fuzzing.md, "Sanitizers in CI").
#
#   scripts/test-sanitized.sh [LIT_PATH...]   (default: the whole suite)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-asan/build.ninja ]; then
  # scripts/build.sh's configuration, at -O1 to keep the build fast.
  cmake -G Ninja -S . -B build-asan \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld-22 \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DMONOCARD_SANITIZE=ON
fi
ninja -C build-asan
# lit sets ASAN_OPTIONS/UBSAN_OPTIONS for this build (test/lit.cfg.py):
# every report aborts its test. Tests that cannot run sanitized say
# `UNSUPPORTED: sanitized` with the reason.
if (($#)); then
  /usr/lib/llvm-22/bin/lit -sv "$@"
else
  /usr/lib/llvm-22/bin/lit -sv build-asan/test
fi

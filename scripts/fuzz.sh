#!/usr/bin/env bash
# Fuzzes the runtime's parsers with libFuzzer (fuzz/, docs/fuzzing.md).
#
#   scripts/fuzz.sh [--replay] [--seconds N] [HARNESS...]
#
# Builds fuzz/ in build-fuzz/ with clang-22 (-fsanitize=fuzzer,address,
# undefined), then for each harness (default: all of json, model-info,
# tokenizer, safetensors):
#   --replay     runs every input of its corpus once (what CI does);
#   otherwise    fuzzes for N seconds (default 60) from its corpus plus the
#                repository's own files of that format, keeping new inputs
#                in build-fuzz/corpus/HARNESS and crashes in
#                build-fuzz/crashes/HARNESS, and prints the executions.
# Exit status 1 if a harness crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
replay=0 seconds=60 harnesses=()
while (($#)); do
  case "$1" in
    --replay) replay=1 ;;
    --seconds) seconds=$2; shift ;;
    *) harnesses+=("$1") ;;
  esac
  shift
done
((${#harnesses[@]})) || harnesses=(json model-info tokenizer safetensors)

if [ ! -f build-fuzz/build.ninja ]; then
  cmake -G Ninja -S fuzz -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
fi
ninja -C build-fuzz $(printf 'fuzz-%s ' "${harnesses[@]}") >/dev/null

# The repository's own files of each format, as extra seeds.
seeds() {
  case "$1" in
    json|tokenizer) ls test/Runtime/Tokenizer/Inputs/*/tokenizer.json \
                       test/Runtime/Tokenizer/Inputs/errors/*.json ;;
    model-info) ls test/Runtime/Cuda/Inputs/*.json ;;
    safetensors) : ;;
  esac
}
max_len() {
  case "$1" in
    safetensors) echo 4096 ;;
    model-info) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

status=0
for h in "${harnesses[@]}"; do
  bin=build-fuzz/fuzz-$h
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  if ((replay)); then
    if ! "$bin" -runs=0 fuzz/corpus/"$h" >build-fuzz/"$h".log 2>&1; then
      echo "fuzz $h: a corpus input fails (build-fuzz/$h.log)"; status=1
    else
      echo "fuzz $h: $(ls fuzz/corpus/"$h" | wc -l) corpus inputs replayed"
    fi
    continue
  fi
  work=build-fuzz/corpus/$h crashes=build-fuzz/crashes/$h
  mkdir -p "$work" "$crashes"
  cp fuzz/corpus/"$h"/* "$work"/ 2>/dev/null || true
  for f in $(seeds "$h"); do cp "$f" "$work/seed-$(echo "$f" | tr / _)"; done
  if "$bin" "$work" -max_total_time="$seconds" -max_len="$(max_len "$h")" \
      -artifact_prefix="$crashes/" -print_final_stats=1 \
      >build-fuzz/"$h".log 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' build-fuzz/"$h".log | grep -o '[0-9]*$')
    echo "fuzz $h: $runs executions in ${seconds} s, no crash"
  else
    echo "fuzz $h: CRASH, see build-fuzz/$h.log and $crashes"; status=1
  fi
done
exit $status

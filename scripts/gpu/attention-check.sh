#!/usr/bin/env bash
# The CUDA attention kernels alone against a float64 reference, run ON THE
# GPU MACHINE through the device tool. Needs .devbin/attention-check from
# `python/monocard/attention_check.py prepare` (carried). Results
# (attention-check.json, attention-check.log) go to $OUT; exit status 1 if
# any case failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/attention-check-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 python/monocard/attention_check.py run --dir .devbin/attention-check \
  --out "$OUT" "$@" 2>&1 | tee "$OUT/attention-check.log"
exit "${PIPESTATUS[0]}"

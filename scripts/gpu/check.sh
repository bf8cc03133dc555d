#!/usr/bin/env bash
# GPU correctness check, run ON THE GPU MACHINE through the device tool.
# Needs .devbin/gpu-check from python/monocard/prepare_gpu_check.py (carried).
# Results (gpu-check.md, gpu-check.json, gpu-check.log, sanitizer.log) go
# to $OUT; exit status 1 if any case or the sanitizer run failed.
# See docs/gpu-correctness.md.  Extra arguments go to gpu_check.py.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 python/monocard/gpu_check.py --dir .devbin/gpu-check --out "$OUT" "$@" \
  2>&1 | tee "$OUT/gpu-check.log"
exit "${PIPESTATUS[0]}"

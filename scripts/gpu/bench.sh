#!/usr/bin/env bash
# GPU benchmark, run ON THE GPU MACHINE through the device tool.
# Needs .devbin/gpu-bench from bench/prepare_gpu_bench.py (carried).
# Results (gpu-bench.json, gpu-bench.md, gpu-bench.svg, gpu-bench.log) go to
# $OUT; bench/plot_gpu_bench.py turns the JSON into docs/benchmarks/ here.
# See docs/benchmarks/README.md.  Extra arguments go to gpu_bench.py.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# Checkpoints are 13.5 GB + 2.5 GB and their packed copies as large: use the
# biggest local disk's temp dir unless told otherwise.
WORK=${GPU_BENCH_WORK:-/tmp}
df -h "$WORK" | tail -1 || true
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
python3 bench/gpu_bench.py --dir .devbin/gpu-bench --out "$OUT" --work "$WORK" "$@" \
  2>&1 | tee "$OUT/gpu-bench.log"
exit "${PIPESTATUS[0]}"

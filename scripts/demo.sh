#!/usr/bin/env bash
# The main job: builds Monocard, compiles the bundled demo model
# (examples/fortune-llama) into a standalone program and generates text,
# on the GPU when this machine has an NVIDIA GPU and driver, else on the CPU.
# Usage: scripts/demo.sh ["prompt"] [extra launcher flags...]
# MONOCARD_TARGET=cpu|cuda overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
prompt="${1:-Q: What is the meaning of life?}"
shift || true
target=${MONOCARD_TARGET:-cpu}
if [ -z "${MONOCARD_TARGET:-}" ] && command -v nvidia-smi >/dev/null 2>&1 &&
   nvidia-smi -L >/dev/null 2>&1; then
  target=cuda
fi
echo "--- target: $target"
mkdir -p build/demo
build/bin/monocard-compile examples/fortune-llama --target=$target --max-seq 256 -o build/demo/fortune
echo "--- prompt: $prompt"
build/demo/fortune --prompt "$prompt" -n 64 --temperature 0.8 --top-p 0.95 --seed 1 "$@"
echo

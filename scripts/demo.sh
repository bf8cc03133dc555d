#!/usr/bin/env bash
# The main job: builds Monocard, compiles the bundled demo model
# (examples/fortune-llama) into a standalone program and generates text.
# Usage: scripts/demo.sh ["prompt"] [extra launcher flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
prompt="${1:-Q: What is the meaning of life?}"
shift || true
target=cpu
mkdir -p build/demo
build/bin/monocard-compile examples/fortune-llama --target=$target --max-seq 256 -o build/demo/fortune
echo "--- prompt: $prompt"
build/demo/fortune --prompt "$prompt" -n 64 --temperature 0.8 --top-p 0.95 --seed 1 "$@"
echo

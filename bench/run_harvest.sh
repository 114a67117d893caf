#!/usr/bin/env bash
# Online-harvesting overhead: fpokit's harvesting source against a plain forward of the same
# model on the same token rows (bench_harvest.cpp), three runs.
#   bench/run_harvest.sh [PRESET] [DEVICE] [DTYPE] [BATCH] [CONTEXT]
# The random-weight model of the preset (bench/make_random_model.py) gets the bundled tiny
# tokenizer (its ids fit every preset's vocabulary); the corpus is models/tiny-corpus.jsonl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=${1:-small} device=${2:-cpu} dtype=${3:-float32} batch=${4:-8} context=${5:-128}
python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
build=${FPOKIT_BUILD_DIR:-$root/build}
model=${FPOKIT_BENCH_MODEL_DIR:-/tmp/fpokit-bench-$preset-$dtype}
[ -f "$model/config.json" ] || "$python" "$root/bench/make_random_model.py" --preset "$preset" --dtype "$dtype" --out "$model" >&2
cp "$root/models/tiny-llama/tokenizer.json" "$root/models/tiny-llama/tokenizer_config.json" "$model/"
for run in 1 2 3; do
  "$build/bench/bench_harvest" --model "$model" --data "$root/models/tiny-corpus.jsonl" --device "$device" \
    --dtype "$dtype" --model-batch-size "$batch" --context-size "$context" --batches 30
done

#!/usr/bin/env bash
# fpokit drift against the sum of its unavoidable passes (bench_drift.cpp), and its peak memory at
# N and 4N tokens (separate processes).
#   bench/run_drift.sh [PRESET] [DEVICE] [DTYPE] [TOKENS] [ALIGNED]
# The random-weight model of the preset (bench/make_random_model.py) gets the bundled tiny
# tokenizer; the corpus is models/tiny-corpus.jsonl; the SAE is a random TopK SAE (d_sae 4096).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=${1:-small} device=${2:-cpu} dtype=${3:-float32} tokens=${4:-4096} aligned=${5:-1}
python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
build=${FPOKIT_BUILD_DIR:-$root/build}
model=${FPOKIT_BENCH_MODEL_DIR:-/tmp/fpokit-bench-$preset-$dtype}
[ -f "$model/config.json" ] || "$python" "$root/bench/make_random_model.py" --preset "$preset" --dtype "$dtype" --out "$model" >&2
cp "$root/models/tiny-llama/tokenizer.json" "$root/models/tiny-llama/tokenizer_config.json" "$model/"
common=(--model "$model" --data "$root/models/tiny-corpus.jsonl" --device "$device" --dtype "$dtype"
        --aligned "$aligned" --context-size 128 --model-batch-size 8 --fidelity-tokens 1024)
"$build/bench/bench_drift" "${common[@]}" --tokens "$tokens"
"$build/bench/bench_drift" "${common[@]}" --tokens "$((4 * tokens))"

#!/usr/bin/env bash
# Forward benchmark, fpokit vs HF transformers on the same machine in the same run.
#   bench/run_forward.sh [PRESET] [DEVICE] [DTYPE] [BATCH] [SEQ]
# e.g. bench/run_forward.sh small cpu float32 4 128; bench/run_forward.sh gemma-2-2b cuda bfloat16 4 1024
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=${1:-small} device=${2:-cpu} dtype=${3:-float32} batch=${4:-4} seq=${5:-128}
python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
build=${FPOKIT_BUILD_DIR:-$root/build}
model=${FPOKIT_BENCH_MODEL_DIR:-/tmp/fpokit-bench-$preset-$dtype}
[ -f "$model/config.json" ] || "$python" "$root/bench/make_random_model.py" --preset "$preset" --dtype "$dtype" --out "$model" >&2
args=(--model "$model" --device "$device" --dtype "$dtype" --batch "$batch" --seq "$seq")
ours=$("$build/bench/bench_forward" "${args[@]}")
peer=$("$python" "$root/bench/peer_forward.py" "${args[@]}")
echo "$ours"
echo "$peer"
"$python" - "$ours" "$peer" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ratio fpokit/transformers: forward tokens/s {a['tokens_per_s'] / b['tokens_per_s']:.2f}x, "
      f"load time {a['load_s'] / b['load_s']:.2f}x")
PY

#!/usr/bin/env bash
# Setup, build, then the main job on the bundled tiny model (random weights: the text is noise,
# the pipeline is real — tokenizer, model, KV-cache generation).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$("$root/scripts/build.sh" | tail -n 1)
"$build/tools/fpokit" generate --model "$root/models/tiny-llama" --prompt "The quick brown fox" \
  --max-new-tokens 24 --temperature 0.8 --top-p 0.95 --seed 7

#!/usr/bin/env bash
# The README's first command: set up, build only the fpokit binary (not the tests and benchmarks),
# and run `fpokit demo` on the embedded default (examples/demo; docs/demo.md). Arguments go to
# `fpokit demo` (e.g. --quick, --out DIR, --device cuda, --force to run again in runs/demo).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(FPOKIT_BUILD_TARGETS=fpokit "$root/scripts/build.sh" | tail -n 1)
has_out=0
for a in "$@"; do [ "$a" = --out ] && has_out=1; done
out=()
[ "$has_out" = 1 ] || out=(--out "$root/runs/demo")
"$build/tools/fpokit" demo "${out[@]}" "$@"

#!/usr/bin/env bash
# The whole test suite on CPU: setup, build, then every ctest test not labelled cuda
# (on a GPU machine, run `ctest --test-dir build -L cuda` as well).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$("$root/scripts/build.sh" "$@" | tail -n 1)
ctest --test-dir "$build" --output-on-failure --label-exclude cuda -j"$(nproc)"

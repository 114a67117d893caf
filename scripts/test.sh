#!/usr/bin/env bash
# The whole test suite on CPU: setup, build, then every ctest test not labelled cuda
# (on a GPU machine, run `ctest --test-dir build -L cuda` as well).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$("$root/scripts/build.sh" "$@" | tail -n 1)
ctest --test-dir "$build" --output-on-failure --label-exclude cuda -j"$(nproc)"
# A short fuzzing pass over every reader of untrusted files (docs/reliability.md, 'Fuzzing and
# sanitizers'), when clang++ with libFuzzer is installed (fuzz.sh exits 3 when it is not).
fuzz_rc=0
FPOKIT_FUZZ_JOBS=2 "$root/scripts/fuzz.sh" "${FPOKIT_CI_FUZZ_SECONDS:-15}" || fuzz_rc=$?
if [ "$fuzz_rc" -eq 3 ]; then
  echo "test: skipped the fuzzing pass (no clang++ with libFuzzer)" >&2
elif [ "$fuzz_rc" -ne 0 ]; then
  exit "$fuzz_rc"
fi

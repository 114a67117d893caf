#!/usr/bin/env bash
# Builds fpokit and the named test suites with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option FPOKIT_SANITIZE, cmake/FpokitSanitizers.cmake) into $FPOKIT_SANITIZE_BUILD_DIR
# (default build-asan/) and runs those suites under ctest (label cuda excluded).
#
#   scripts/sanitize.sh [SUITE...]    default: the readers' and the CLI's suites,
#                                     safetensors tokenizer core sae fpo cli
#
# FPOKIT_SANITIZE_TESTS=REGEX narrows the tests (ctest -R; names are `suite:test case`), e.g.
#   FPOKIT_SANITIZE_TESTS='^sae:.*(npz|Gemma Scope|SAELens)' scripts/sanitize.sh sae
# Any sanitizer report fails the test that triggered it (halt_on_error, leaks checked at exit).
# FPOKIT_SANITIZE_STEP=build or test does only that half (scripts/test.sh times the build alone).
# The compiler is CMake's default (gcc on Debian 12); CXX=clang++ works as well.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FPOKIT_SANITIZE_BUILD_DIR:-$root/build-asan}
suites=(safetensors tokenizer core sae fpo cli)
if [ "$#" -gt 0 ]; then suites=("$@"); fi

python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja)
# -O1 -g: ASan's usual setting (readable stacks, tests not much slower than -O2); assertions on.
nice -n 10 cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DFPOKIT_SANITIZE=ON -DFPOKIT_BUILD_BENCH=OFF -DFPOKIT_PYTHON="$python" >/dev/null
targets=(fpokit)
regex=""
for s in "${suites[@]}"; do
  targets+=("test_$s")
  regex+="${regex:+|}^$s:"
done
step=${FPOKIT_SANITIZE_STEP:-all}
case $step in all | build | test) ;; *)
  echo "sanitize: FPOKIT_SANITIZE_STEP='$step' is not all, build or test" >&2
  exit 2
  ;;
esac
if [ "$step" != test ]; then
  nice -n 10 cmake --build "$build" -j"${FPOKIT_SANITIZE_BUILD_JOBS:-2}" --target "${targets[@]}" >&2
fi
[ "$step" != build ] || exit 0

# The fpokit processes the CLI tests start inherit these. Nothing is switched off: leaks are
# checked at exit, UBSan stops at its first report. The one suppression: memory libhdf5 allocates
# itself and loses after a failed write or on a damaged file (tests/sanitizers/libhdf5.lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/libhdf5.lsan.supp:print_suppressions=0}
# FPOKIT_SANITIZE_EXCLUDE=REGEX leaves tests out (ctest -E), as scripts/test.sh does for the end-to-end runs.
exclude=()
[ -z "${FPOKIT_SANITIZE_EXCLUDE:-}" ] || exclude=(-E "$FPOKIT_SANITIZE_EXCLUDE")
nice -n 10 ctest --test-dir "$build" --output-on-failure --label-exclude cuda -j"${FPOKIT_SANITIZE_TEST_JOBS:-2}" \
  -R "${FPOKIT_SANITIZE_TESTS:-$regex}" "${exclude[@]}"

#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, CMake option FPOKIT_FUZZ, clang) into
# $FPOKIT_FUZZ_BUILD_DIR (default build-fuzz/) and runs each for SECONDS (default 600) over a
# scratch copy of its committed corpus (tests/fuzz/corpus/<harness>; the committed one is never
# written), with its dictionary (tests/fuzz/dict/<harness>.dict) when there is one.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]      e.g. scripts/fuzz.sh 60 safetensors npz
#
# One line per harness: executions, seconds, corpus size at start and end, result. Any finding (a
# crash, a sanitizer report, a leak, a timeout over 10 s, over 4 GB of memory, or an exception other
# than fpokit::InputError) makes the script exit 1 after all harnesses ran; the input that triggered
# it and the harness's log are kept in $FPOKIT_FUZZ_OUT (default <build>/fuzz-findings/).
# FPOKIT_FUZZ_JOBS=2 runs two harnesses at a time (default 1). Fuzzers run at nice 19.
# docs/reliability.md, 'Fuzzing and sanitizers', has the harness list and the known limits.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
shift || true
build=${FPOKIT_FUZZ_BUILD_DIR:-$root/build-fuzz}
out=${FPOKIT_FUZZ_OUT:-$build/fuzz-findings}
jobs=${FPOKIT_FUZZ_JOBS:-1}
all_harnesses=(safetensors safetensors_index config_json tokenizer_json tokenizer_config sentencepiece
  preference_jsonl config_toml sae_cfg npz activation_file reference_cache jinja_template dataset_records)
harnesses=("${all_harnesses[@]}")
if [ "$#" -gt 0 ]; then harnesses=("$@"); fi

# libFuzzer comes with clang (Debian: the clang package ships libclang_rt.fuzzer).
cxx=${FPOKIT_FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null ||
  ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
  "$cxx" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "fuzz: $cxx with libFuzzer (-fsanitize=fuzzer) is not available" >&2
  exit 3
fi

python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja)
# -O1 -g: the usual fuzzing trade-off (fast enough, stack traces that point at lines); assertions on.
nice -n 10 cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DFPOKIT_FUZZ=ON -DFPOKIT_BUILD_TESTS=OFF -DFPOKIT_BUILD_BENCH=OFF \
  -DFPOKIT_PYTHON="$python" >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
nice -n 10 cmake --build "$build" -j"${FPOKIT_FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}" >&2

# LeakSanitizer on (also for each input: libFuzzer's -detect_leaks). LibTorch, HDF5 and the other
# libraries are not instrumented; nothing below turns a check off.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/fpokit-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# run_one HARNESS: prints its summary line; returns 1 on a finding.
run_one() {
  local h=$1 corpus="$scratch/$1" log="$out/$1.log" dict=()
  cp -r "$root/tests/fuzz/corpus/$h" "$corpus"
  [ -f "$root/tests/fuzz/dict/$h.dict" ] && dict=(-dict="$root/tests/fuzz/dict/$h.dict")
  # libhdf5 1.10.8 loses memory it allocated itself when it gives up on a damaged file
  # (tests/sanitizers/libhdf5.lsan.supp); its crashes and hangs stay in the structure check's child process
  # (core/io/hdf5_structure_check.h), so nothing else is suppressed.
  local lsan=${LSAN_OPTIONS:-}
  case $h in
    activation_file | reference_cache) lsan+="${lsan:+:}suppressions=$root/tests/sanitizers/libhdf5.lsan.supp:print_suppressions=0" ;;
  esac
  local before rc=0 start=$SECONDS
  before=$(find "$corpus" -type f | wc -l)
  # (The braces' 2>/dev/null only silences bash's "Aborted" note; the fuzzer's output is in $log.)
  { LSAN_OPTIONS=$lsan nice -n 19 "$build/tests/fuzz/fuzz_$h" "$corpus" "${dict[@]}" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=4096 -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$out/$h-" \
    >"$log" 2>&1; } 2>/dev/null || rc=$?
  # The executions: libFuzzer's final stats, or its last status line when it stopped on a finding.
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  local secs=$((SECONDS - start)) after result
  after=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FINDING (exit $rc): $(grep -m1 -E 'ERROR: |FINDING|runtime error|Deadly|Timeout|out-of-memory' "$log" | cut -c1-160); log $log"
  fi
  printf 'fuzz_%-18s %10s executions %5s s  corpus %3s -> %4s files  %s\n' "$h" "${runs:-0}" "$secs" "$before" "$after" \
    "$result"
  [ "$rc" -eq 0 ]
}

failed=0
running=0
for h in "${harnesses[@]}"; do
  if [ "$jobs" -le 1 ]; then
    run_one "$h" || failed=1
  else
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: findings; inputs and logs in $out" >&2
  exit 1
fi

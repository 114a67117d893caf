#!/usr/bin/env bash
# The whole test suite on CPU: setup, build, then every ctest test not labelled cuda
# (on a GPU machine, run `ctest --test-dir build -L cuda` as well).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$("$root/scripts/build.sh" "$@" | tail -n 1)
ctest --test-dir "$build" --output-on-failure --label-exclude cuda -j"$(nproc)"
# The GPU run's script (bench/gpu/run.sh, issue 17) end to end on the CPU at tiny sizes, so that a
# change cannot break the one call a lent GPU gets (about a minute; results in $build/gpu-dry-run).
"$root/bench/gpu/run.sh" --dry-run --build-dir "$build" --out "$build/gpu-dry-run" >/dev/null
# A short fuzzing pass over every reader of untrusted files (docs/reliability.md, 'Fuzzing and
# sanitizers'), when clang++ with libFuzzer is installed (fuzz.sh exits 3 when it is not).
fuzz_rc=0
FPOKIT_FUZZ_JOBS=2 "$root/scripts/fuzz.sh" "${FPOKIT_CI_FUZZ_SECONDS:-15}" || fuzz_rc=$?
if [ "$fuzz_rc" -eq 3 ]; then
  echo "test: skipped the fuzzing pass (no clang++ with libFuzzer)" >&2
elif [ "$fuzz_rc" -ne 0 ]; then
  exit "$fuzz_rc"
fi

# The readers' and the CLI's suites under AddressSanitizer + UndefinedBehaviorSanitizer
# (scripts/sanitize.sh; docs/reliability.md, 'Sanitizer build'), when they fit the time CI gives a
# run (90 minutes; this script keeps to FPOKIT_CI_BUDGET_MINUTES, default 80). With a warm ccache the
# sanitizer build takes minutes and the suites about 25 minutes; built from nothing it takes about an
# hour, which does not fit after a cold build of everything else. So the step starts only when at
# least 35 minutes are left, the build gets what is left less 25 minutes, and a build that does not
# finish in that time is reported as skipped (run scripts/sanitize.sh on its own). A test that fails
# under the sanitizers fails this script. FPOKIT_CI_SANITIZE=0 skips the step, =1 runs it whatever
# the time.
sanitize_suites=(safetensors tokenizer core cli)
budget=$((${FPOKIT_CI_BUDGET_MINUTES:-80} * 60))
left=$((budget - SECONDS))
case ${FPOKIT_CI_SANITIZE:-auto} in
  0) echo "test: skipped the sanitizer step (FPOKIT_CI_SANITIZE=0)" >&2 ;;
  1 | auto)
    # The sanitizer build needs about 5 GB of disk (most of it one precompiled LibTorch header of
    # 0.8 GB per PCH and the instrumented test executables); a disk that fills up mid-build fails
    # the compile with no message of the compiler's own, so the step checks first.
    free_gb=$(df -Pk "$root" | awk 'NR == 2 { print int($4 / 1048576) }')
    if [ "${FPOKIT_CI_SANITIZE:-auto}" = auto ] && [ "$left" -lt $((35 * 60)) ]; then
      echo "test: skipped the sanitizer step: $((left / 60)) of ${FPOKIT_CI_BUDGET_MINUTES:-80} minutes left, it needs" \
        "about 35 (run scripts/sanitize.sh ${sanitize_suites[*]})" >&2
    elif [ "${FPOKIT_CI_SANITIZE:-auto}" = auto ] && [ "$free_gb" -lt 8 ]; then
      echo "test: skipped the sanitizer step: ${free_gb} GB free on the disk of $root, its build needs about" \
        "5 and this step keeps 3 in reserve (free some space, or run scripts/sanitize.sh ${sanitize_suites[*]})" >&2
    else
      build_seconds=$((left - 25 * 60))
      [ "${FPOKIT_CI_SANITIZE:-auto}" = 1 ] && build_seconds=$((24 * 3600))
      sanitize_rc=0
      FPOKIT_SANITIZE_STEP=build timeout "$build_seconds" "$root/scripts/sanitize.sh" "${sanitize_suites[@]}" ||
        sanitize_rc=$?
      if [ "$sanitize_rc" -eq 124 ]; then
        echo "test: skipped the sanitizer suites: their build did not finish in $((build_seconds / 60)) minutes" \
          "(a cold ccache; run scripts/sanitize.sh ${sanitize_suites[*]})" >&2
      elif [ "$sanitize_rc" -ne 0 ]; then
        exit "$sanitize_rc"
      else
        # Three end-to-end runs are left out here: the two `demo --quick` tests (12 minutes each under
        # the sanitizers) and the README's commands (each a path the other CLI tests cover);
        # scripts/sanitize.sh runs them.
        FPOKIT_SANITIZE_EXCLUDE='demo --quick|README.s sh blocks' FPOKIT_SANITIZE_STEP=test \
          "$root/scripts/sanitize.sh" "${sanitize_suites[@]}"
      fi
    fi
    ;;
  *)
    echo "test: FPOKIT_CI_SANITIZE='${FPOKIT_CI_SANITIZE}' is not 0, 1 or auto" >&2
    exit 2
    ;;
esac

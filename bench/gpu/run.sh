#!/usr/bin/env bash
# fpokit on a GPU host in one call (issue 17; docs/BENCHMARKS.md, "GPU run"): builds the CUDA
# build, runs `ctest -L cuda`, then the SAE-training, harvesting, forward and preference-step
# benchmarks against their peers, each step timed and limited, 540 s in all. Results go to
# --out (default $OUT): results.jsonl (as they come), results.md (the tables), run.log.
#
#   Here, once:        bench/gpu/prepare.sh                    (-> .devdeps/, git-ignored)
#   On the GPU host:   bash bench/gpu/run.sh                   (device tool: carry [".devdeps"])
#   CPU dry run (CI):  bench/gpu/run.sh --dry-run --out DIR    (tiny sizes, the existing build/)
#
# The driver is bench/gpu/gpu_run.py (--help lists its options). On the GPU host it runs with
# python3, the interpreter that holds torch there; the dry run with the project venv's python.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${FPOKIT_PYTHON:-}
if [ -z "$python" ]; then
  case " $* " in
    *" --dry-run "*) python=$("$root/scripts/setup.sh" | tail -n 1) ;;
    *) python=python3 ;;
  esac
fi
exec "$python" "$root/bench/gpu/gpu_run.py" "$@"

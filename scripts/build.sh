#!/usr/bin/env bash
# Sets up (scripts/setup.sh), configures and builds fpokit into $FPOKIT_BUILD_DIR (default build/).
# Extra arguments go to the CMake configure step (e.g. -DFPOKIT_CUDA=ON). FPOKIT_BUILD_TARGETS
# (space-separated, default: all) builds only those targets, e.g. "fpokit" for the demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$("$root/scripts/setup.sh" | tail -n 1)
build=${FPOKIT_BUILD_DIR:-$root/build}
# ccache: paths relative to the clone (so another clone hits the cache) and precompiled headers
# accepted (they come in through -include, which ccache can hash).
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DFPOKIT_PYTHON="$python" "$@" >&2
read -r -a targets <<<"${FPOKIT_BUILD_TARGETS:-all}"
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >&2
echo "$build"

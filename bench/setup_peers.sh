#!/usr/bin/env bash
# Python environment for the SAE-training peers (SAELens, EleutherAI sparsify) used by
# bench/peer_sae_train.py; idempotent and quick when done before.
#
# The peers live in their own venv, $FPOKIT_PEERS_VENV (default
# ~/.cache/fpokit/venv-peers-<short hash of bench/requirements-peers.txt>), so that their large and
# fast-moving dependency trees (wandb, datasets, transformer-lens, ...) never touch the project venv
# that the C++ build takes LibTorch from. That venv is *layered* on the project venv instead of
# getting its own torch: a .pth file appends the project venv's site-packages to sys.path, so torch
# (a ~3 GB +cu130 wheel), transformers, numpy, ... are imported from there and not downloaded again.
#
# Why this cannot modify the project venv:
#  - pip only ever runs with the peers venv's python, so it installs into the peers venv's prefix;
#    pip refuses to uninstall anything outside its own environment.
#  - pip sees the project venv's packages (they are on sys.path) and takes them as installed; the
#    project venv's `pip freeze` is passed as constraints, so the resolver keeps exactly those
#    versions (torch, transformers, numpy, ...) instead of "upgrading" them.
#  - Only if that cannot be resolved (a peer pin wanting, say, another transformers) is the install
#    retried holding just torch and its CUDA/Triton wheels: the other versions then go into the peers
#    venv, whose site-packages come first on sys.path, so they shadow the project's copies for the
#    peers only. torch is always held: a peer that cannot live with the project's torch fails here.
#
# Prints the peers venv's python path on the last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reqs="$root/bench/requirements-peers.txt"
hash=$(sha256sum "$reqs" | cut -c1-12)
venv=${FPOKIT_PEERS_VENV:-$HOME/.cache/fpokit/venv-peers-$hash}
# The project venv (torch etc.): FPOKIT_PYTHON if given, else whatever scripts/setup.sh sets up.
project_python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
project_site=$("$project_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# The stamp records both inputs: a changed requirements file or a different project venv (another
# torch) means the layering and the resolution must be redone.
stamp="$venv/.fpokit-peers"
want_stamp=$(printf 'project_site=%s\n' "$project_site"; cat "$reqs")
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_stamp" ]; then
  echo "$venv/bin/python"
  exit 0
fi

echo "setup_peers: creating the peers' Python environment in $venv (layered on $project_site)" >&2
# Made from the project venv's interpreter, so the base Python (and so the ABI of the wheels in
# project_site, whose path includes pythonX.Y) is the same.
[ -x "$venv/bin/python" ] || "$project_python" -m venv "$venv" >&2
peers_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# .pth lines are appended to sys.path after the venv's own site-packages: peers-venv packages win.
echo "$project_site" > "$peers_site/_fpokit_project_venv.pth"
"$venv/bin/python" -m pip install -q --upgrade pip >&2

constraints=$(mktemp)
heavy=$(mktemp)
trap 'rm -f "$constraints" "$heavy"' EXIT
# Direct references (name @ url) and editables are not valid constraints; plain pins are enough.
"$project_python" -m pip freeze | grep -Ev '^(-e|#)| @ ' > "$constraints" || true
# torch and the CUDA/Triton wheels it depends on: the multi-GB part that must never be fetched again.
grep -Ei '^(torch|triton|nvidia-[^=]*|cuda-[^=]*)==' "$constraints" > "$heavy" || true
if ! "$venv/bin/python" -m pip install -q -c "$constraints" -r "$reqs" >&2; then
  # Some pin needs a version other than the project venv's (e.g. transformers). Hold only torch &
  # co. and let pip put the other versions into the peers venv, where they shadow the project's
  # copies for the peers only (the project venv is still never written to).
  echo "setup_peers: cannot keep all of the project venv's versions; holding only torch/CUDA/Triton" >&2
  "$venv/bin/python" -m pip install -q -c "$heavy" -r "$reqs" >&2
fi

# Fail here, not in the middle of a benchmark, if the layering or the peers are broken.
"$venv/bin/python" - "$project_site" >&2 <<'PY'
import sys, importlib.metadata as md
import torch, transformers, sae_lens, sparsify, liger_kernel.chunked_loss  # noqa: F401  (the imports are the check)
project_site = sys.argv[1]
assert torch.__file__.startswith(project_site), f"torch comes from {torch.__file__}, not {project_site}"
where = "project venv" if transformers.__file__.startswith(project_site) else "peers venv"
print(f"setup_peers: torch {torch.__version__}, transformers {transformers.__version__} ({where}), "
      f"sae-lens {md.version('sae-lens')}, sparsify {md.version('eai-sparsify')}")
PY
printf '%s\n' "$want_stamp" > "$stamp"
echo "$venv/bin/python"

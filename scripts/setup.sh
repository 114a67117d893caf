#!/usr/bin/env bash
# Sets up everything fpokit needs on a Debian 12 machine; idempotent and quick when done before.
#  1. Debian packages (only the missing ones are installed).
#  2. A Python venv outside the clone, $FPOKIT_VENV (default ~/.cache/fpokit/venv-torch-<version>),
#     with scripts/requirements.txt; reused as long as that file is unchanged.
# Prints the venv's python path on the last line of stdout (scripts/build.sh reads it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
torch_version=$(sed -n 's/^torch==//p' "$root/scripts/requirements.txt")
venv=${FPOKIT_VENV:-$HOME/.cache/fpokit/venv-torch-$torch_version}

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git python3 python3-venv clang-format
  libhdf5-dev libeigen3-dev libcli11-dev catch2 nlohmann-json3-dev
  libsentencepiece-dev libzip-dev libpcre2-dev libicu-dev zlib1g-dev
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

stamp="$venv/.fpokit-requirements"
if ! cmp -s "$root/scripts/requirements.txt" "$stamp" 2>/dev/null; then
  echo "setup: creating the Python environment in $venv (torch $torch_version; a few GB, once)" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -r "$root/scripts/requirements.txt" >&2
  cp "$root/scripts/requirements.txt" "$stamp"
fi
echo "$venv/bin/python"

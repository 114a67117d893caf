#!/usr/bin/env bash
# Prepares, on this (networked, Debian 12) machine, the one folder the GPU run needs besides the
# working tree: .devdeps/ (git-ignored), which the device tool carries to the GPU host, where
# bench/gpu/run.sh uses it. The GPU host has CUDA, CMake, ninja, a compiler and python3 with torch
# 2.11, but no network and none of the Debian libraries fpokit links, nor SAELens or sparsify.
#
#   bench/gpu/prepare.sh            # -> .devdeps/sysroot.tar.xz, .devdeps/wheels/*.whl
#
# .devdeps/sysroot.tar.xz  The Debian 12 packages fpokit builds against (headers, CMake and
#                          pkg-config files, shared libraries) and every shared library they load
#                          that is not part of glibc/libstdc++, unpacked with dpkg -x, stripped of
#                          static libraries and documentation, packed with xz. run.sh unpacks it
#                          under /tmp and points CMake, pkg-config and the loader at it (nothing is
#                          installed into /).
# .devdeps/wheels/         The peers' wheels (bench/gpu/peer-wheels.txt) for the host's CPython
#                          3.12, installed there with pip --no-index --no-deps into /tmp.
#
# The device tool sends the working tree (tracked and untracked-not-ignored files) plus carried
# folders, at most 64 MiB together; this script measures both and fails when they do not fit.
# Environment: FPOKIT_GPU_DEBS_CACHE (downloaded .deb files; default ~/.cache/fpokit/gpu-debs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=$root/.devdeps
cache=${FPOKIT_GPU_DEBS_CACHE:-$HOME/.cache/fpokit/gpu-debs}
python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
limit_mib=64

# What CMake finds (cmake/FpokitDeps.cmake, */CMakeLists.txt): pkg-config modules hdf5, icu-uc,
# libzip, zlib; CMake packages nlohmann_json, CLI11, Eigen3, Catch2; pcre2-8 and sentencepiece by path.
# pkgconf: the host may have no pkg-config. The runtime list is `ldd` of the fpokit executables on
# Debian 12 minus glibc, libstdc++ and libgcc (the host's newer ones serve).
dev_packages=(
  libhdf5-dev hdf5-helpers libsentencepiece-dev libzip-dev libpcre2-dev libicu-dev
  libeigen3-dev libcli11-dev catch2 nlohmann-json3-dev pkgconf pkgconf-bin libpkgconf3 zlib1g-dev
)
runtime_packages=(
  libhdf5-103-1 libaec0 libsz2
  libcurl4 libssl3 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1 libzstd1 libbz2-1.0 zlib1g
  libldap-2.5-0 libsasl2-2 libsasl2-modules-db libgssapi-krb5-2 libkrb5-3 libk5crypto3
  libkrb5support0 libkeyutils1 libcom-err2 libgnutls30 libnettle8 libhogweed6 libgmp10 libidn2-0
  libunistring2 libtasn1-6 libp11-kit0 libffi8
  libsentencepiece0 libprotobuf-lite32 libzip4 libpcre2-8-0 libicu72
)

echo "prepare: downloading ${#dev_packages[@]} + ${#runtime_packages[@]} Debian packages into $cache" >&2
mkdir -p "$cache"
(
  cd "$cache"
  [ -n "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock | head -1)" ] || apt-get update -qq
  # A package apt cannot download is caught by the check below (a .deb for every name).
  apt-get download -qq "${dev_packages[@]}" "${runtime_packages[@]}" 2>&1 |
    grep -v '^W: Download is performed unsandboxed' || true
)
for p in "${dev_packages[@]}" "${runtime_packages[@]}"; do
  compgen -G "$cache/${p}_*.deb" >/dev/null || { echo "prepare: no .deb for $p in $cache" >&2; exit 1; }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/sysroot"
for p in "${dev_packages[@]}" "${runtime_packages[@]}"; do
  # The newest file of each package, should the cache hold several versions.
  deb=$(ls -t "$cache/${p}"_*.deb | head -n 1)
  dpkg-deb -x "$deb" "$stage/sysroot"
done
sys=$stage/sysroot
# Debian selects the HDF5 flavour through update-alternatives, which dpkg -x does not run.
ln -sf hdf5-serial.pc "$sys/usr/lib/x86_64-linux-gnu/pkgconfig/hdf5.pc"
# What neither the build nor the loader reads.
rm -rf "$sys/usr/share/doc" "$sys/usr/share/man" "$sys/usr/share/lintian" "$sys/usr/share/locale" \
  "$sys/usr/share/info" "$sys/usr/share/bug" "$sys/etc"
# Catch2's CMake package checks that its static libraries exist: keep those (1 MB).
find "$sys" -name '*.a' ! -name 'libCatch2*' -delete
# Shared libraries of those packages that fpokit does not link (it takes icu-uc, pcre2-8, hdf5's C
# library and sentencepiece's runtime): about 6 MB of the archive.
find "$sys/usr/lib/x86_64-linux-gnu" \( -name 'libicui18n.so*' -o -name 'libicuio.so*' -o -name 'libicutest.so*' \
  -o -name 'libicutu.so*' -o -name 'libsentencepiece_train.so*' -o -name 'libpcre2-16.so*' \
  -o -name 'libpcre2-32.so*' -o -name 'libpcre2-posix.so*' -o -name 'libhdf5_serial_*.so*' \
  -o -name 'libhdf5_serial_hl*.so*' -o -name 'libhdf5_*cpp*.so*' \) -delete
# Links to what was left out (HDF5's Fortran and high-level libraries, say).
find "$sys" -xtype l -delete
mkdir -p "$out"
rm -f "$out/sysroot.tar.xz"
tar -C "$sys" -I 'xz -9 -T0' -cf "$out/sysroot.tar.xz.tmp" . && mv "$out/sysroot.tar.xz.tmp" "$out/sysroot.tar.xz"

echo "prepare: downloading the peers' wheels (bench/gpu/peer-wheels.txt) for CPython 3.12" >&2
rm -rf "$out/wheels"
mkdir -p "$out/wheels.tmp"
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -r "$root/bench/gpu/peer-wheels.txt" -d "$out/wheels.tmp"
# wandb: keep its Python package, drop the service binaries (wandb/bin/, 51 MB unpacked) that only
# wandb.init() starts; the benchmark never logs to wandb.
"$python" - "$out"/wheels.tmp/wandb-*.whl <<'PY'
import os, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".slim", "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        if item.filename.startswith("wandb/bin/"):
            continue
        data = src.read(item)
        if item.filename.endswith(".dist-info/RECORD"):
            data = b"".join(l + b"\n" for l in data.splitlines() if not l.startswith(b"wandb/bin/"))
        dst.writestr(item, data)
os.replace(path + ".slim", path)
PY
mv "$out/wheels.tmp" "$out/wheels"

# What the device tool would send: tracked and untracked-not-ignored files, plus .devdeps.
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null |
  awk '{ s += $1 } END { print s + 0 }')
carry_bytes=$(du -sb "$out" | cut -f1)
total_mib=$(((tree_bytes + carry_bytes) / 1048576))
printf 'prepare: working tree %d MiB + .devdeps %d MiB (sysroot %s, wheels %s) = %d MiB of %d\n' \
  $((tree_bytes / 1048576)) $((carry_bytes / 1048576)) "$(du -sh "$out/sysroot.tar.xz" | cut -f1)" \
  "$(du -sh "$out/wheels" | cut -f1)" "$total_mib" "$limit_mib" >&2
if [ "$total_mib" -ge "$limit_mib" ]; then
  echo "prepare: the working tree and .devdeps exceed the device tool's $limit_mib MiB; remove untracked files" \
    "or trim bench/gpu/peer-wheels.txt" >&2
  exit 1
fi
cat >&2 <<EOF
prepare: ready. On the GPU host (device tool: run, carry [".devdeps"], timeout_s 600):
  bash bench/gpu/run.sh --out "\$OUT"
EOF

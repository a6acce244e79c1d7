#!/usr/bin/env bash
# Builds Berth's Windows installer with NSIS:
#   build.sh VERSION BIN_DIR GUEST_DIR OUT_DIR
# writes OUT_DIR/Berth-Setup-VERSION.exe and prints its path. BIN_DIR
# holds berth.exe, berth-gui.exe and docker.exe, GUEST_DIR a guest image with its
# Hyper-V disks (make guest-image-hyperv). makensis runs with -WX: a
# warning fails the build. NSIS_COMPRESS picks its compressor: lzma (solid,
# a 64 MiB window) by default, zlib for a larger installer built in a
# fraction of the time (README "Windows installer" has the numbers).
set -euo pipefail
version=$1 bin=$2 guest=$3 out=$4/Berth-Setup-$1.exe
here=$(cd "$(dirname "$0")" && pwd)
[[ $version =~ ^[A-Za-z0-9][A-Za-z0-9.+~-]*$ ]] ||
  { echo "build.sh: \"$version\" is no version for a file name (e.g. v1.0 or the output of git describe)" >&2; exit 1; }
for f in "$bin/berth.exe" "$bin/berth-gui.exe" "$bin/docker.exe" "$guest/manifest.json" "$guest/hyperv/boot.vhdx" "$guest/hyperv/system.vhdx"; do
  [ -f "$f" ] || { echo "build.sh: $f is missing: build it first (make cross builds everything)" >&2; exit 1; }
done
compressor=${NSIS_COMPRESS:-lzma}
case $compressor in zlib|bzip2|lzma) ;; *) echo "build.sh: NSIS_COMPRESS=$compressor: use zlib, bzip2 or lzma" >&2; exit 1 ;; esac
command -v makensis >/dev/null || { echo "build.sh: makensis is missing: install Debian's nsis (make deps)" >&2; exit 1; }

# Windows wants four numbers in a file's version: vMAJOR[.MINOR[.PATCH]]
# from git describe, and the commits since that tag last; 0.0.0.0 before
# the first tag.
vi_version=0.0.0.0
if [[ $version =~ ^v?([0-9]+)(\.([0-9]+))?(\.([0-9]+))?(-([0-9]+)-g[0-9a-f]+)? ]]; then
  m=("${BASH_REMATCH[@]}")
  vi_version=${m[1]}.${m[3]:-0}.${m[5]:-0}.${m[7]:-0}
fi

mkdir -p "$(dirname "$out")"
# makensis resolves File paths against the script's folder: absolute ones.
abs() { (cd "$1" && pwd); }
makensis -V2 -WX -NOCD \
  "-DVERSION=$version" "-DVI_VERSION=$vi_version" "-DCOMPRESSOR=$compressor" \
  "-DBIN_DIR=$(abs "$bin")" "-DGUEST_DIR=$(abs "$guest")" "-DOUT=$(abs "$(dirname "$out")")/$(basename "$out")" \
  "$here/berth.nsi" >&2
echo "$out"

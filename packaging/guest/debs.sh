#!/usr/bin/env bash
# Downloads Debian packages into a cache directory and extracts them, without
# installing anything on the build host.
# Usage: debs.sh ARCH CACHE_DIR OUT_DIR PACKAGE...
# A package already in CACHE_DIR is not downloaded again. PACKAGE may be a
# metapackage such as linux-image-cloud-amd64: it is resolved to the concrete
# package it depends on, whose .deb holds the files.
set -euo pipefail
arch=$1 cache=$2 out=$3
shift 3
mkdir -p "$cache" "$out"

resolve() {
  local pkg=$1 dep
  # A kernel metapackage depends on exactly one linux-image-<version>-<flavour>.
  dep=$(apt-cache depends "$pkg:$arch" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -n "$dep" ]; then echo "${dep%%:*}"; else echo "$pkg"; fi
}

for pkg in "$@"; do
  real=$(resolve "$pkg")
  version=$(apt-cache policy "$real:$arch" | awk '/Candidate:/ {print $2}')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    echo "debs.sh: no candidate for $real:$arch; run apt-get update (for a foreign ARCH: dpkg --add-architecture $arch first)" >&2
    exit 1
  fi
  deb=$(ls "$cache/${real}_"*"_$arch.deb" 2>/dev/null | grep -F "_$(echo "$version" | sed 's/:/%3a/')_" || true)
  if [ -z "$deb" ]; then
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$real:$arch=$version" >&2)
    deb=$(ls "$cache/${real}_"*"_$arch.deb" | grep -F "_$(echo "$version" | sed 's/:/%3a/')_")
  fi
  dpkg-deb -x "$deb" "$out"
  echo "$real $version"
done

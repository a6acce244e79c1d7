#!/usr/bin/env bash
# Resolves a berth .deb's Depends against Debian 12's and Debian 13's
# archives, as apt would install it on an empty system of each (a
# simulated install: nothing is installed, no root needed), and checks
# that each brings a virtiofsd: QEMU 7.2's C one in qemu-system-common on
# Debian 12, the Rust virtiofsd package on Debian 13 (QEMU 8 dropped the C
# one).
#   test-resolve.sh path/to/berth_VERSION_ARCH.deb
set -euo pipefail
deb=$(realpath "$1")
arch=$(dpkg-deb -f "$deb" Architecture)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-resolve.sh: FAIL: $*" >&2; exit 1; }

# resolve SUITE: the packages apt would install, "name version" a line.
resolve() {
  local d=$work/$1
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  echo "deb $mirror $1 main" > "$d/sources.list"
  : > "$d/status"
  local opts=(-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "Dir::Etc::SourceList=$d/sources.list"
    -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::status=$d/status" -o "APT::Architecture=$arch"
    -o Debug::NoLocking=1 -o "APT::Sandbox::User=$(id -un)" -q)
  apt-get "${opts[@]}" update >/dev/null || fail "apt-get update for $1 failed"
  apt-get "${opts[@]}" install -s --no-install-recommends "$deb" > "$d/sim" 2>&1 ||
    fail "berth does not install on an empty Debian $1:"$'\n'"$(tail -20 "$d/sim")"
  awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2, v }' "$d/sim"
}

bookworm=$(resolve bookworm)
grep -Eq '^qemu-system-common 1:7\.' <<<"$bookworm" ||
  fail "on Debian 12 berth does not bring QEMU 7.2's qemu-system-common (its C virtiofsd): $(grep qemu <<<"$bookworm")"
trixie=$(resolve trixie)
grep -q '^virtiofsd ' <<<"$trixie" || fail "on Debian 13 berth does not bring virtiofsd: $(grep -E 'qemu|virtiofsd' <<<"$trixie")"
echo "test-resolve.sh: ok: on Debian 12 $(grep '^qemu-system-common ' <<<"$bookworm") of $(grep -c . <<<"$bookworm") packages; on Debian 13 $(grep '^virtiofsd ' <<<"$trixie") of $(grep -c . <<<"$trixie")"

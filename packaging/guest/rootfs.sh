#!/usr/bin/env bash
# Builds the guest's Debian root filesystem as a tarball with mmdebstrap.
# Usage: rootfs.sh SUITE ARCH PACKAGES_FILE OUT.tar
# This is the slow, network-bound step; the Makefile reruns it only when the
# package list or this script changes. MIRROR overrides Debian's default mirror.
set -euo pipefail
suite=$1 arch=$2 packages=$3 out=$4

include=$(grep -v '^\s*#' "$packages" | xargs | tr ' ' ',')
mkdir -p "$(dirname "$out")"
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT

args=(
  --variant=minbase
  --arch="$arch"
  --include="$include"
  --format=tar
  # Docs, man pages and translations are a third of a minimal system and
  # nobody reads them in a VM without a login.
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --aptopt='APT::Install-Recommends "false"'
  # bookworm's usrmerge is only needed while installing, and pulls in all of
  # perl (trixie's base-files makes the merged /usr itself): purge whichever
  # of these are installed.
  --customize-hook='chroot "$1" dpkg-query -W -f "\${db:Status-Abbrev} \${Package}\n" usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl perl "perl-modules-*" "libperl5*" 2>/dev/null | awk "/^ii/ {print \$2}" | xargs -r chroot "$1" dpkg --purge --force-depends'
  # docker.io's libnetwork test tools and the legacy containerd shims are
  # never run: dockerd uses containerd-shim-runc-v2.
  --customize-hook='rm -f "$1"/usr/bin/dnet "$1"/usr/sbin/ovrouter "$1"/usr/bin/containerd-shim "$1"/usr/bin/containerd-shim-runc-v1'
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*'
)
# A foreign architecture (arm64 on an amd64 build host) runs maintainer
# scripts through qemu-user: mmdebstrap checks for binfmt support itself.
mmdebstrap "${args[@]}" "$suite" "$tmp" ${MIRROR:+"$MIRROR"}
mv "$tmp" "$out"

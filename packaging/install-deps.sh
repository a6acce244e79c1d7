#!/usr/bin/env bash
# Installs the Debian packages that building and testing Berth need, if any
# are missing. Idempotent: with everything present it only checks.
set -euo pipefail
pkgs=(
  # guest image
  mmdebstrap debian-archive-keyring cpio e2fsprogs kmod gzip xz-utils
  # running the guest: QEMU under libvirt (system instance without systemd:
  # see start-libvirtd.sh)
  qemu-system-x86 qemu-utils
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  # the GUI: fyne builds with cgo against GLFW (X11 + OpenGL headers)
  gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
  libxinerama-dev libxi-dev libxxf86vm-dev
  # the GUI end-to-end test: a real window on Xvfb with a session bus for the
  # tray, driven by xdotool, captured by ImageMagick's import
  xvfb xauth libgl1-mesa-dri dbus dbus-x11 xdotool imagemagick x11-utils
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
# The guest image builder resolves packages with apt-cache: the lists must be
# there even when nothing is missing.
if [ ${#missing[@]} -gt 0 ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep _Packages)" ]; then
  $sudo apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v docker >/dev/null || { echo "install-deps: the docker CLI is needed (the client only; no engine)" >&2; exit 1; }
command -v go >/dev/null || { echo "install-deps: Go is needed (see go.mod for the version)" >&2; exit 1; }

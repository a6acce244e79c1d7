#!/usr/bin/env bash
# Installs the Debian packages that building and testing Berth need, if any
# are missing. Idempotent: with everything present it only checks.
set -euo pipefail
pkgs=(
  # the guest image is built by Berth's own Go builder (packaging/imagebuild)
  # with nothing from the host; e2fsck checks data disks in the e2e tests;
  # squashfs-tools' unsquashfs reads back the builder's images in its tests
  e2fsprogs squashfs-tools
  # running the guest: QEMU under libvirt (system instance without systemd:
  # see start-libvirtd.sh)
  qemu-system-x86 qemu-utils
  # the arm64 guest's e2e test (qemu-system-aarch64, emulated)
  qemu-system-arm
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  # the GUI: fyne builds with cgo against GLFW (X11 + OpenGL headers)
  gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
  libxinerama-dev libxi-dev libxxf86vm-dev
  # the GUI end-to-end test: a real window on Xvfb with a session bus for the
  # tray, driven by xdotool, captured by ImageMagick's import
  xvfb xauth libgl1-mesa-dri dbus dbus-x11 xdotool imagemagick x11-utils
  # Hyper-V's boot disk: systemd's EFI stub (objcopy builds on it), a FAT
  # system partition in a GPT disk; OVMF, the firmware its test boots it on
  systemd-boot-efi binutils mtools dosfstools fdisk ovmf
  # the DNS end-to-end test: the host's resolvers (a VPN's and a public one),
  # each in a network namespace of its own
  dnsmasq-base
  # the Linux package's desktop entry is checked while it is built
  desktop-file-utils
  # the dashboard for Windows, cross-compiled, and the Windows installer,
  # built with NSIS and checked with 7-Zip, which lists and unpacks it
  # (make cross)
  gcc-mingw-w64-x86-64 nsis p7zip-full
  # the file-events end-to-end test: Node's fs.watch and chokidar (from the
  # npm registry) in a container, on the host's node
  nodejs
  # the proxy end-to-end test: the host's own proxy as the only way out
  # (nft), and a local TLS registry whose CA only the host trusts
  tinyproxy docker-registry nftables
  # ...and GNOME's proxy setting, which Berth reads with gsettings
  libglib2.0-bin gsettings-desktop-schemas
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v docker >/dev/null || { echo "install-deps: the docker CLI is needed (the client only; no engine)" >&2; exit 1; }
command -v go >/dev/null || { echo "install-deps: Go is needed (see go.mod for the version)" >&2; exit 1; }

#!/usr/bin/env bash
# Installs the Debian packages that building and testing Berth need, if any
# are missing. Idempotent: with everything present it only checks.
set -euo pipefail
pkgs=(
  # guest image (zstd: Debian 13's kernels are zstd-compressed)
  mmdebstrap debian-archive-keyring cpio e2fsprogs kmod gzip xz-utils zstd
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
  # Hyper-V's boot disk: systemd's EFI stub (objcopy builds on it), a FAT
  # system partition in a GPT disk; OVMF, the firmware its test boots it on
  systemd-boot-efi binutils mtools dosfstools fdisk ovmf
  # the Linux package's desktop entry is checked while it is built
  desktop-file-utils
  # the dashboard for Windows, cross-compiled, and the Windows installer,
  # built with NSIS and checked with 7-Zip, which lists and unpacks it
  # (make cross)
  gcc-mingw-w64-x86-64 nsis p7zip-full
)
# A guest image for another architecture (make guest-image ARCH=arm64 on an
# amd64 host; make exports a command-line ARCH to this script) also needs
# qemu-user and binfmt_misc, which run the foreign root filesystem's
# maintainer scripts, and arch-test, with which mmdebstrap checks that they
# work. Only then: qemu-user-static alone is ~100 MB installed. (The kernel
# and busybox come from the guest's own package lists, not the host's: see
# packaging/guest/debs.sh.)
host_arch=$(dpkg --print-architecture)
target_arch=${ARCH:-$host_arch}
foreign=""
if [ "$target_arch" != "$host_arch" ]; then
  foreign=$target_arch
  pkgs+=(qemu-user-static binfmt-support arch-test)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
# The guest is Debian 13 (trixie): mmdebstrap and debs.sh check its archive
# signatures with the host's keyring, which on Debian 12 knows trixie's keys
# from debian-archive-keyring 2023.3+deb12u2 on (a bookworm update).
[ -f /usr/share/keyrings/debian-archive-trixie-automatic.gpg ] || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ -n "$foreign" ]; then
  # qemu-user-static registers its interpreters with binfmt-support, but
  # where no init system mounts binfmt_misc (containers, CI) they are not
  # in the kernel yet.
  qemu=$(case $foreign in arm64) echo aarch64 ;; armhf|armel) echo arm ;; ppc64el) echo ppc64le ;; i386) echo i386 ;; *) echo "$foreign" ;; esac)
  bm=/proc/sys/fs/binfmt_misc
  [ -e $bm/register ] || $sudo mount -t binfmt_misc binfmt_misc $bm
  if ! grep -qx enabled "$bm/qemu-$qemu" 2>/dev/null; then
    $sudo update-binfmts --enable "qemu-$qemu"
  fi
  arch-test "$foreign" >/dev/null ||
    { echo "install-deps: $foreign binaries do not run through qemu-user here (binfmt_misc?)" >&2; exit 1; }
fi
command -v docker >/dev/null || { echo "install-deps: the docker CLI is needed (the client only; no engine)" >&2; exit 1; }
command -v go >/dev/null || { echo "install-deps: Go is needed (see go.mod for the version)" >&2; exit 1; }

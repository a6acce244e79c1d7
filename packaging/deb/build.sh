#!/usr/bin/env bash
# Builds Berth's Debian package with dpkg-deb alone (no debhelper):
#   build.sh VERSION ARCH BIN_DIR GUEST_DIR ICON_DIR WORK_DIR OUT_DIR
# writes OUT_DIR/berth_VERSION_ARCH.deb and prints its path.
# BIN_DIR holds berth and berth-gui, GUEST_DIR the guest image, ICON_DIR
# the PNGs from mkicons. DEB_COMPRESS picks dpkg-deb's -Z (zstd by default:
# README "Linux package" has the measurements) and DEB_MAINTAINER the
# Maintainer field. No maintainer scripts: installing and removing only
# add and delete these files, never a user's data in ~/.local/share/berth.
set -euo pipefail
version=$1 arch=$2 bin=$3 guest=$4 icons=$5 work=$6 out=$7/berth_${1}_$2.deb
here=$(cd "$(dirname "$0")" && pwd)
assets=$here/../../assets
app_id=dev.berth.Berth
# Debian's rule: a digit first, then alphanumerics and . + ~ (- only
# before a Debian revision).
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] ||
  { echo "build.sh: \"$version\" is not a Debian version (e.g. 1.0 or 0.0.0+git20260101.abc1234)" >&2; exit 1; }
case $arch in
  amd64) multiarch=x86_64-linux-gnu ;;
  arm64) multiarch=aarch64-linux-gnu ;;
  *) echo "build.sh: no Debian multiarch name known for $arch" >&2; exit 1 ;;
esac
for f in "$bin/berth" "$bin/berth-gui" "$guest/vmlinuz" "$guest/initrd.img" "$guest/system.img" "$guest/manifest.json"; do
  [ -f "$f" ] || { echo "build.sh: $f is missing: build it first (make package builds everything)" >&2; exit 1; }
done

root=$work/root
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/berth/guest/$arch" \
  "$root/usr/share/applications" "$root/usr/share/icons/hicolor/scalable/apps"
install -m 0755 "$bin/berth" "$bin/berth-gui" "$root/usr/bin/"
# berth finds the guest at ../lib/berth/guest/ARCH from its binary. Hard
# links, when the work dir allows, spare copying the ~470 MB system image.
for f in vmlinuz initrd.img system.img manifest.json; do
  ln "$guest/$f" "$root/usr/lib/berth/guest/$arch/$f" 2>/dev/null ||
    cp "$guest/$f" "$root/usr/lib/berth/guest/$arch/$f"
done
chmod 0644 "$root/usr/lib/berth/guest/$arch"/*
install -m 0644 "$assets/linux/$app_id.desktop" "$root/usr/share/applications/"
install -m 0644 "$assets/icons/berth.svg" "$root/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
cp -R "$icons/." "$root/usr/share/icons/hicolor/"
find "$root/usr/share/icons" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root/usr/share/applications/$app_id.desktop"
fi
depends=$("$here/depends.sh" "$multiarch" "$bin/berth" "$bin/berth-gui" | paste -sd, | sed 's/,/, /g')
# The dashboard's GLFW opens these X extension libraries at run time (not
# NEEDED) and does without each one that is missing.
glfw_dlopen="libxcursor1, libxi6, libxinerama1, libxrandr2, libxxf86vm1"
# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up,
# and one for each directory or link.
installed_size=$(find "$root" -path "$root/DEBIAN" -prune -o \( -type f -printf '%s\n' -o -printf '1024\n' \) |
  awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
# virtiofsd serves the shared folders. Debian 12's QEMU (7.2) ships its C
# virtiofsd in qemu-system-common; QEMU 8 dropped it, and Debian 13 packs
# the Rust one as virtiofsd, which apt then installs. (Debian 12's
# backports have QEMU 10 and no virtiofsd: apt says so instead of
# installing a Berth whose shares cannot work.)
virtiofsd="virtiofsd | qemu-system-common (<< 1:8.0)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: berth
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-Berth maintainers <maintainers@berth.dev>}
Installed-Size: $installed_size
Depends: libvirt-daemon, libvirt-daemon-driver-qemu, qemu-system-x86, $virtiofsd, uidmap, $depends
Recommends: docker-cli | docker-ce-cli, libvirt-clients, $glfw_dlopen
Section: admin
Priority: optional
Homepage: https://github.com/berthvm/berth
Description: Docker engine in a small Linux VM, with a desktop dashboard
 Berth is a Docker-Desktop-style app. It boots a small Linux virtual
 machine with QEMU through libvirt, runs Debian's Docker engine in it, and
 gives the docker CLI on this machine a socket and a "berth" context to
 talk to it. Published container ports open on localhost, and the home
 and temp folders are shared into the VM at the same paths, so bind mounts
 work as on a Linux host.
 .
 The package holds the berth command (CLI and the daemon that owns the
 VM), the berth-gui dashboard and tray, and the VM's guest image. Each
 user's VM and its data disk live in their home folder
 (~/.local/share/berth); removing the package leaves them.
CONTROL

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-zstd}" ${DEB_COMPRESS_LEVEL:+-z"$DEB_COMPRESS_LEVEL"} --build "$root" "$out.tmp" >/dev/null
mv "$out.tmp" "$out"
rm -rf "$root"
echo "$out"

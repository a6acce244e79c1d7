#!/usr/bin/env bash
# Assembles the guest image from its parts:
#   vmlinuz      the Debian kernel
#   initrd.img   guestd as /init plus the modules that mount the system image
#   system.img   read-only ext4: the Debian root filesystem, kernel modules,
#                guestd and the preloaded images
#   manifest.json versions and sha256 of everything above
# Usage: assemble.sh ARCH ROOTFS_TAR KERNEL_DIR KERNEL_PKG GUESTD IMAGES_DIR OUT_DIR WORK_DIR
# KERNEL_PKG is the "package version" line debs.sh printed for the kernel.
set -euo pipefail
arch=$1 rootfs=$2 kernel=$3 kernel_pkg=$4 guestd=$5 images=$6 out=$7 work=$8

# Debian 13's kernel packages install under /usr/lib, Debian 12's under /lib.
kmods=$kernel/usr/lib/modules
[ -d "$kmods" ] || kmods=$kernel/lib/modules
release=$(ls "$kmods")
[ "$(echo "$release" | wc -l)" = 1 ] || { echo "assemble: want one kernel in $kernel, found: $release" >&2; exit 1; }
# Module directories no VM of ours has hardware for.
prune="drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging
drivers/bluetooth drivers/iio drivers/isdn drivers/hid drivers/input/touchscreen
drivers/usb drivers/mmc drivers/net/can drivers/net/ethernet drivers/scsi/qla2xxx
drivers/scsi/lpfc drivers/scsi/mpt3sas sound net/wireless net/mac80211 net/bluetooth"

sys="$work/system"
rm -rf "$sys" "$work/initrd"
mkdir -p "$sys" "$out"
tar -xpf "$rootfs" -C "$sys" --numeric-owner

# Kernel modules (Debian is usr-merged: /lib is /usr/lib).
moddir="$sys/usr/lib/modules/$release"
mkdir -p "$sys/usr/lib/modules"
cp -a "$kmods/$release" "$moddir"
for d in $prune; do rm -rf "$moddir/kernel/$d"; done
# Debian 13 ships its modules xz-compressed. Unpacked here, they load
# without decompression at every boot: under emulation (TCG) that took the
# engine 7 s longer to be ready (make bench-boot), for 94 MB of image.
find "$moddir" -name '*.ko.xz' -exec xz -d {} +
depmod -b "$sys/usr" "$release"

install -D -m 0755 "$guestd" "$sys/usr/sbin/guestd"
mkdir -p "$sys/usr/share/berth/images" "$sys/mnt/data" "$sys/var/lib/berth"
cp "$images"/*.tar "$sys/usr/share/berth/images/"
: > "$sys/etc/fstab"
echo berth > "$sys/etc/hostname"
# dockerd's iptables calls must go through the nf_tables backend (bookworm's
# default): guestd preloads its modules, not legacy xtables'.
[ "$(readlink "$sys/etc/alternatives/iptables")" = /usr/sbin/iptables-nft ] ||
  { echo "assemble: iptables is not the nft variant in the root filesystem" >&2; exit 1; }

# Size the image to its contents plus room for filesystem metadata.
kib=$(du -sk --apparent-size "$sys" | cut -f1)
size=$(( (kib * 11 / 10 + 32768) / 1024 ))M
rm -f "$out/system.img"
# No journal: the image is only ever mounted read-only.
mkfs.ext4 -q -F -L berth-system -m 0 -O ^has_journal -E root_owner=0:0 -d "$sys" "$out/system.img" "$size"

# initrd: guestd as /init, /dev/console for its first output, and the
# modules (with dependencies) that mount the system image.
ird="$work/initrd"
mkdir -p "$ird/dev" "$ird/lib/modules/$release"
install -m 0755 "$guestd" "$ird/init"
mknod -m 600 "$ird/dev/console" c 5 1
cp "$moddir"/modules.dep "$moddir"/modules.builtin "$ird/lib/modules/$release/"
# On amd64 also Hyper-V's SCSI disks (hv_storvsc), and virtio-scsi, which
# stands in for them when the Hyper-V boot disk is tested under QEMU.
modules="virtio_pci virtio_console virtio_blk crc32c_generic ext4 overlay"
[ "$arch" = amd64 ] && modules="$modules hv_storvsc virtio_scsi sd_mod"
for m in $modules; do
  modprobe -S "$release" -d "$sys/usr" --show-depends "$m"
done | awk '$1 == "insmod" {print $2}' | sort -u | while read -r ko; do
  rel=${ko#*/lib/modules/$release/}
  install -D -m 0644 "$ko" "$ird/lib/modules/$release/$rel"
done
(cd "$ird" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out/initrd.img"

cp "$kernel/boot/vmlinuz-$release" "$out/vmlinuz"
# A compressed x86 kernel spends seconds of TCG time decompressing itself
# at every boot (Debian 12's generic one is XZ, Debian 13's kernels are
# zstd). Its uncompressed ELF, booted through its PVH entry point, skips
# that; QEMU accepts either as -kernel.
if [ "$arch" = amd64 ]; then
  # The boot protocol header says where the compressed payload is: after
  # the setup sectors (byte 0x1f1), at payload_offset (u32 at 0x248), for
  # payload_length bytes (u32 at 0x24c), the last 4 of which are the
  # uncompressed size.
  u() { od -An -j "$1" -N "$2" -tu"$2" "$out/vmlinuz" | tr -d ' '; }
  sects=$(u $((0x1f1)) 1); [ "$sects" = 0 ] && sects=4
  off=$(( (sects + 1) * 512 + $(u $((0x248)) 4) ))
  len=$(( $(u $((0x24c)) 4) - 4 ))
  case $(od -An -j "$off" -N6 -tx1 "$out/vmlinuz" | tr -d ' ') in
    fd377a585a00) unpack="xz -dc --single-stream" ;;
    28b52ffd*) unpack="zstd -dcq" ;;
    *) unpack="" ;;
  esac
  if [ -n "$unpack" ]; then
    $unpack < <(tail -c +$((off + 1)) "$out/vmlinuz" | head -c "$len") > "$work/vmlinux"
    [ "$(od -An -N4 -tx1 "$work/vmlinux" | tr -d ' ')" = 7f454c46 ] ||
      { echo "assemble: the kernel's compressed payload is not an ELF image" >&2; exit 1; }
    mv "$work/vmlinux" "$out/vmlinuz"
  fi
fi
# Apple's Virtualization framework boots only an uncompressed arm64 Image
# (magic "ARM\x64" at byte 0x38). bookworm's arm64 vmlinuz is one already (an
# EFI-stub Image); an Image.gz is unpacked. Anything else, e.g. a later
# kernel's compressed EFI zboot image, fails here rather than at boot on a Mac.
if [ "$arch" = arm64 ]; then
  if gzip -t "$out/vmlinuz" 2>/dev/null; then
    gunzip -c "$kernel/boot/vmlinuz-$release" > "$out/vmlinuz"
  fi
  [ "$(od -An -j $((0x38)) -N4 -tx1 "$out/vmlinuz" | tr -d ' ')" = 41524d64 ] ||
    { echo "assemble: the arm64 kernel is not an uncompressed Image (no ARM\\x64 magic at 0x38)" >&2; exit 1; }
fi

# The manifest: what went in, and checksums of what came out.
{
  printf '{\n  "arch": "%s",\n  "debian": "%s",\n  "kernel": {"package": "%s", "version": "%s", "release": "%s"},\n' \
    "$arch" "$(. "$sys/etc/os-release" && echo "$VERSION_CODENAME")" "$(cut -d' ' -f1 < "$kernel_pkg")" "$(cut -d' ' -f2 < "$kernel_pkg")" "$release"
  printf '  "guestd": "%s",\n' "$(sha256sum "$guestd" | cut -d' ' -f1)"
  printf '  "packages": {'
  dpkg-query --admindir="$sys/var/lib/dpkg" -W -f '${Package} ${Version}\n' | sort |
    awk 'BEGIN {sep=""} {printf "%s\n    \"%s\": \"%s\"", sep, $1, $2; sep=","}'
  printf '\n  },\n  "images": ['
  sep=""
  for i in "$images"/*.tar; do printf '%s"%s"' "$sep" "$(basename "$i")"; sep=", "; done
  printf '],\n  "files": {'
  sep=""
  for f in vmlinuz initrd.img system.img; do
    printf '%s\n    "%s": {"size": %s, "sha256": "%s"}' "$sep" "$f" "$(stat -c %s "$out/$f")" "$(sha256sum "$out/$f" | cut -d' ' -f1)"
    sep=","
  done
  printf '\n  }\n}\n'
} > "$out/manifest.json.tmp"
mv "$out/manifest.json.tmp" "$out/manifest.json"

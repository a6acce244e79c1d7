#!/usr/bin/env bash
# Builds the Hyper-V disks of a guest image. A Generation 2 VM boots only
# EFI programs from disks, so the kernel, the initrd and a fixed command
# line become one EFI program (a unified kernel image on systemd's stub),
# alone on the EFI system partition of boot.vhdx; system.img becomes
# system.vhdx.
# Usage: hyperv-boot.sh BZIMAGE INITRD SYSTEM_IMG CMDLINE OUT_DIR WORK_DIR
# BZIMAGE must be the kernel as Debian ships it (its EFI stub boots it),
# not the ELF the QEMU image uses.
set -euo pipefail
kernel=$1 initrd=$2 system=$3 cmdline=$4 out=$5 work=$6
stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
mkdir -p "$out" "$work"

# The unified kernel image: the stub with .osrel, .cmdline, .linux and
# .initrd sections placed, in that order, past its own sections.
printf '%s' "$cmdline" > "$work/cmdline.txt"
printf 'ID=berth\nNAME=Berth\n' > "$work/os-release"
align=$((0x$(objdump -p "$stub" | awk '$1 == "SectionAlignment" {print $2}')))
end=0
while read -r size vma; do
  e=$((0x$size + 0x$vma)); [ "$e" -gt "$end" ] && end=$e
done < <(objdump -h "$stub" | awk 'NF == 7 && $1 ~ /^[0-9]+$/ {print $3, $4}')
args=()
vma=$end
for s in osrel:"$work/os-release" cmdline:"$work/cmdline.txt" linux:"$kernel" initrd:"$initrd"; do
  name=${s%%:*} file=${s#*:}
  vma=$(( (vma + align - 1) / align * align ))
  args+=(--add-section ".$name=$file" --change-section-vma ".$name=$(printf '0x%x' "$vma")")
  vma=$((vma + $(stat -c %s "$file")))
done
objcopy "${args[@]}" "$stub" "$work/berth.efi"

# The EFI system partition: FAT with the program where firmware looks for
# a removable disk's loader, in a GPT disk of its own.
efi_kib=$(( $(stat -c %s "$work/berth.efi") / 1024 ))
esp_mib=$(( (efi_kib + 4096) / 1024 + 1 ))
rm -f "$work/esp.img" "$work/boot.img"
mkfs.vfat -n BERTH-EFI -C "$work/esp.img" $((esp_mib * 1024)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/berth.efi" ::/EFI/BOOT/BOOTX64.EFI
truncate -s $(( (esp_mib + 2) * 1024 * 1024 )) "$work/boot.img"
printf 'label: gpt\nstart=2048, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"\n' \
  $((esp_mib * 2048)) | sfdisk -q "$work/boot.img"
dd if="$work/esp.img" of="$work/boot.img" bs=1M seek=1 conv=notrunc status=none

# Hyper-V attaches VHDX (dynamic: only what is written takes space).
qemu-img convert -f raw -O vhdx -o subformat=dynamic "$work/boot.img" "$out/boot.vhdx"
qemu-img convert -f raw -O vhdx -o subformat=dynamic "$system" "$out/system.vhdx"

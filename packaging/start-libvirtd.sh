#!/usr/bin/env bash
# Starts libvirtd (system instance) where no init system does it, e.g. in
# containers and CI. With systemd, `systemctl start libvirtd` is the way and
# this script only checks. Idempotent.
set -euo pipefail
sock=/run/libvirt/libvirt-sock
if [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
  exit 0
fi
if [ -d /run/systemd/system ]; then
  systemctl start libvirtd
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "start-libvirtd: run as root (or start libvirtd as your own session daemon: libvirtd -d)" >&2; exit 1; }
# What libvirt-daemon-system's maintainer scripts would set up.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent group kvm >/dev/null || groupadd --system kvm
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt --no-create-home --shell /usr/sbin/nologin libvirt-qemu
# udev's rule for /dev/kvm (0660 root:kvm). Without it libvirt finds KVM
# usable while probing as root but not for the qemu user, and re-probes QEMU
# on every call, for minutes.
if [ -c /dev/kvm ]; then chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; fi
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu /run/libvirt
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 1 50); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then exit 0; fi
  sleep 0.2
done
echo "start-libvirtd: libvirtd did not come up" >&2
exit 1

#!/usr/bin/env bash
# Lays out a minimal container root filesystem around Debian's static busybox.
# Usage: busybox-rootfs.sh BUSYBOX OUT_DIR
set -euo pipefail
busybox=$1 out=$2
# The applets a small web server and shell tests use; a fixed list, because a
# foreign-architecture busybox cannot be asked for its own.
applets="sh ash cat echo ls sleep mkdir rm touch wc head tail id stat env sync
dd seq true false grep sed sort ps hostname test [ nc httpd printf cp mv ln
chmod chown uname date kill du df find xargs tr cut sha256sum mount"
rm -rf "$out"
mkdir -p "$out/bin" "$out/etc" "$out/tmp" "$out/www"
chmod 1777 "$out/tmp"
install -m 0755 "$busybox" "$out/bin/busybox"
for a in $applets; do ln -s busybox "$out/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$out/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$out/etc/group"

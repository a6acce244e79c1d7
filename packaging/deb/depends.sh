#!/usr/bin/env bash
# Prints the Depends entries for the shared libraries the given ELF files
# link (their NEEDED entries), one a line, without dpkg-shlibdeps (dpkg-dev):
# each library's package is the one that installed it here (dpkg -S), and
# its entry is that package's own line in its shlibs file, e.g. libc.so.6 ->
# "libc6 (>= 2.36)"; a package without one is named bare.
#   depends.sh MULTIARCH ELF...      (MULTIARCH: x86_64-linux-gnu, ...)
set -euo pipefail
multiarch=$1
shift
for elf; do
  objdump -p "$elf" | awk '$1 == "NEEDED" { print $2 }'
done | sort -u | while read -r so; do
  pkg=""
  for dir in /lib /usr/lib; do
    pkg=$(dpkg -S "$dir/$multiarch/$so" 2>/dev/null | head -n1 | cut -d: -f1) && break
  done
  if [ -z "$pkg" ]; then
    echo "depends.sh: $so (linked by $*) is not from a Debian package in /lib/$multiarch or /usr/lib/$multiarch; install its package" >&2
    exit 1
  fi
  # The shlibs key of libfoo.so.6 is "libfoo 6", of libfoo-1.2.so "libfoo 1.2".
  case $so in
    *.so.*) name=${so%%.so.*} ver=${so#*.so.} ;;
    *-*.so) name=${so%-*} ver=${so##*-} ver=${ver%.so} ;;
    *) name=${so%.so} ver="" ;;
  esac
  line=""
  for shlibs in "/var/lib/dpkg/info/$pkg.shlibs" /var/lib/dpkg/info/"$pkg":*.shlibs; do
    [ -f "$shlibs" ] || continue
    line=$(awk -v n="$name" -v v="$ver" '$1 == n && $2 == v { $1 = $2 = ""; sub(/^ +/, ""); print; exit }' "$shlibs")
    [ -n "$line" ] && break
  done
  echo "${line:-$pkg}"
done | sort -u

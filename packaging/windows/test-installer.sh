#!/usr/bin/env bash
# Checks Berth's Windows installer without Windows: 7-Zip lists and
# unpacks NSIS installers. The listing must be exactly the program (and
# the copy of berth.exe an upgrade stops every user's Berth with), the
# docker CLI, the guest image's Hyper-V disks, the uninstaller and NSIS's
# plugins, and what it unpacks must equal the build's files.
#   test-installer.sh INSTALLER BIN_DIR GUEST_DIR
set -euo pipefail
export LC_ALL=C # the expected listing is in C order
installer=$1 bin=$2 guest=$3
command -v 7z >/dev/null || { echo "test-installer.sh: 7z is missing: install Debian's p7zip-full (make deps)" >&2; exit 1; }
command -v go >/dev/null || { echo "test-installer.sh: go is missing: it reads docker.exe's build info" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-installer.sh: $*" >&2; exit 1; }

7z l -slt "$installer" > "$work/listing" || fail "7z cannot read $installer as an installer"
# The archive's own properties, then a line of dashes, then its files.
sed '/^----------$/q' "$work/listing" > "$work/archive"
grep -qx 'Type = Nsis' "$work/archive" || fail "$installer is not an NSIS installer"
grep -qx 'SubType = NSIS-3 Unicode 64-bit' "$work/archive" ||
  fail "$installer is not a 64-bit Unicode installer: $(grep SubType "$work/archive")"
sed -n '/^----------$/,$s/^Path = //p' "$work/listing" | sort > "$work/files"
sort > "$work/want" <<'LIST'
$PLUGINSDIR/System.dll
$PLUGINSDIR/berth.exe
$PLUGINSDIR/modern-wizard.bmp
$PLUGINSDIR/nsDialogs.dll
$PLUGINSDIR/nsExec.dll
Uninstall.exe
bin/berth-gui.exe
bin/berth.exe
bin/docker.exe
guest/amd64/hyperv/boot.vhdx
guest/amd64/hyperv/system.vhdx
guest/amd64/manifest.json
LIST
diff -u "$work/want" "$work/files" >&2 || fail "the installer's files differ from the expected ones (- expected, + found)"

7z x -y -bso0 -bsp0 -o"$work/x" "$installer"
for f in bin/berth.exe:"$bin/berth.exe" bin/berth-gui.exe:"$bin/berth-gui.exe" bin/docker.exe:"$bin/docker.exe" \
  '$PLUGINSDIR/berth.exe':"$bin/berth.exe" \
  guest/amd64/manifest.json:"$guest/manifest.json" \
  guest/amd64/hyperv/boot.vhdx:"$guest/hyperv/boot.vhdx" guest/amd64/hyperv/system.vhdx:"$guest/hyperv/system.vhdx"; do
  cmp -s "$work/x/${f%%:*}" "${f#*:}" || fail "${f%%:*} in the installer is not ${f#*:}"
done
# docker.exe must be the docker CLI, built for Windows (its Go build info
# says so; make cross builds it with packaging/windows/docker-cli.sh).
info=$(go version -m "$work/x/bin/docker.exe" 2>&1) || fail "bin/docker.exe has no Go build info: $info"
grep -q $'^\tpath\tgithub.com/docker/cli/cmd/docker$' <<<"$info" && grep -q $'^\tbuild\tGOOS=windows$' <<<"$info" ||
  fail "bin/docker.exe is not the docker CLI for Windows: $info"
echo "test-installer.sh: $installer ($(du -m "$installer" | cut -f1) MB) holds $(wc -l < "$work/files") files as expected"

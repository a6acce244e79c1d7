#!/usr/bin/env bash
# Checks berth.nsi without Windows, in seconds: it compiles (makensis -WX,
# with stub files for the binaries and disks), and its preprocessed form
# (macros and defines expanded, as makensis runs it) does what the
# installer must:
#   - the install section stops every user's Berth (berth stop
#     --all-users, with the berth.exe it ships) before it replaces files;
#   - no taskkill of berth.exe comes before that clean stop, in any
#     function or section;
#   - it runs `berth setup`, tells the user to sign out on setup's
#     sign-out status (the same number as Go's winsetup.ExitSignOut), also
#     in a silent install (/SD), and aborts on any other failure;
#   - the uninstaller runs `berth setup --undo`.
#   check-nsi.sh [BERTH_NSI]   (from anywhere; needs makensis)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nsi=${1:-$here/berth.nsi}
gosrc=$here/../../app/winsetup/setup.go
command -v makensis >/dev/null || { echo "check-nsi.sh: makensis is missing: install Debian's nsis (make deps)" >&2; exit 1; }
fail() { echo "check-nsi.sh: berth.nsi: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

signout=$(sed -n 's/^const ExitSignOut = \([0-9][0-9]*\)$/\1/p' "$gosrc")
[ -n "$signout" ] || { echo "check-nsi.sh: no 'const ExitSignOut = N' in $gosrc" >&2; exit 1; }

mkdir -p "$work/bin" "$work/guest/hyperv"
for f in bin/berth.exe bin/berth-gui.exe bin/docker.exe guest/manifest.json guest/hyperv/boot.vhdx guest/hyperv/system.vhdx; do
  echo stub > "$work/$f"
done
defs=("-DVERSION=v0.0.0" "-DVI_VERSION=0.0.0.0" "-DCOMPRESSOR=zlib" "-DBIN_DIR=$work/bin" "-DGUEST_DIR=$work/guest" "-DOUT=$work/Berth-Setup-check.exe")
makensis -V2 -WX -NOCD "${defs[@]}" "$nsi" >"$work/compile.log" 2>&1 || { cat "$work/compile.log" >&2; fail "does not compile"; }
makensis -NOCD -PPO "${defs[@]}" "$nsi" >"$work/pp.nsi" 2>"$work/pp.log" || { cat "$work/pp.log" >&2; fail "does not preprocess"; }

# One awk pass over the preprocessed script; it prints what is wrong.
problems=$(awk -v signout="$signout" '
  function problem(s) { print s; bad = 1 }
  /^(Function|Section) / { block = $0; stopped = 0 }
  /stop --all-users/ { stopped = 1 }
  /taskkill/ && /\/IM berth\.exe/ && !stopped { problem("taskkill /IM berth.exe before berth stop --all-users in: " block) }

  block ~ /^Section "Berth"/ {
    if ($0 ~ /^File "\/oname=\$PLUGINSDIR\\berth\.exe"/) unpacked = NR
    if ($0 ~ /^Call StopBerth$/) { stopcall = NR; if (!unpacked) problem("Call StopBerth before the berth.exe it runs is unpacked") }
    if ($0 ~ /^SetOutPath "\$INSTDIR\\bin"$/ && !stopcall) problem("files replaced before Call StopBerth")
    if ($0 ~ /ExecToLog .*berth\.exe" setup'\''$/) setup = NR
    if (setup && $0 ~ ("^StrCmp `\\$0` `" signout "`")) signcase = NR
    if (signcase && !signbox && $0 ~ /^MessageBox /) signbox = NR
    # The MessageBox runs until the next line LogicLib made.
    if (signbox && NR > signbox && $0 ~ /^(!|Goto |_LogicLib)/) signend = 1
    if (signbox && !signend) { box = box $0 "\n"; if ($0 ~ /\/SD ID/) signdone = 1 }
    if (setup && $0 ~ /^StrCmp `\$0` `0`/) otherfail = NR
    if (otherfail && $0 ~ /^Abort$/) aborts = 1
  }
  /^Function StopBerth$/ { instfn = 1 }
  /^Function StopBerth$/, /^FunctionEnd$/ { if ($0 ~ /"\$PLUGINSDIR\\berth\.exe" stop --all-users/) inststop = 1 }
  block ~ /^Section "-un\.Berth"/ && /ExecToLog .*berth\.exe" setup --undo'\''$/ { undo = 1 }
  END {
    if (!instfn || !inststop) problem("Function StopBerth does not run the shipped berth.exe stop --all-users")
    if (!stopcall) problem("the install section never calls StopBerth")
    if (!setup) problem("the install section does not run berth.exe setup")
    if (!signcase) problem("berth setup exit status " signout " (sign out) is not handled")
    if (!signbox || box !~ /[Ss]ign out/ || !signdone) problem("status " signout " shows no MessageBox that says to sign out, with /SD for silent installs")
    if (!otherfail || !aborts) problem("a failed berth setup does not abort")
    if (!undo) problem("the uninstall section does not run berth.exe setup --undo")
  }' "$work/pp.nsi")
[ -z "$problems" ] || fail "$problems"
echo "check-nsi.sh: berth.nsi compiles and stops, sets up, handles sign-out ($signout) and undoes as it must"

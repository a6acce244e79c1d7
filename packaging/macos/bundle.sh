#!/usr/bin/env bash
# Assembles and signs Berth.app on a Mac (`make app`, `make run`):
#   bundle.sh VERSION BIN_DIR GUEST_DIR ICNS OUT_DIR [IDENTITY]
# BIN_DIR holds berth and berth-gui built for darwin (cgo: on a Mac),
# GUEST_DIR the guest image for the Mac's architecture, ICNS the icon
# (mkicons -icns). IDENTITY is a "Developer ID Application: …" certificate,
# or "-" (the default) for an ad-hoc signature, enough to run on the Mac
# that built it. Writes OUT_DIR/Berth.app.
set -euo pipefail
version=$1 bin=$2 guest=$3 icns=$4 out=$5 identity=${6:--}
here=$(cd "$(dirname "$0")" && pwd)
ent="$here/berth.entitlements"
app="$out/Berth.app"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources/guest"
sed "s/@VERSION@/$version/g" "$here/Info.plist" > "$app/Contents/Info.plist"
install -m 0755 "$bin/berth" "$bin/berth-gui" "$app/Contents/MacOS/"
install -m 0644 "$icns" "$app/Contents/Resources/berth.icns" # Info.plist's CFBundleIconFile
# berth looks for the guest beside its binary (../Resources/guest/ARCH).
# APFS clones it (cp -c) instead of copying half a gigabyte each build.
dst="$app/Contents/Resources/guest/$(basename "$guest")"
cp -cR "$guest" "$dst" 2>/dev/null || { rm -rf "$dst"; cp -R "$guest" "$dst"; }

# Every Mach-O file inside (thin or universal) is signed, hardened runtime
# on, with the entitlement: the daemon (berth) runs the VM, and the
# notary service refuses any unsigned or unhardened binary in the bundle.
# A Developer ID signature needs a secure timestamp for notarization.
sign=(codesign --force --options runtime --entitlements "$ent" -s "$identity")
[ "$identity" = - ] || sign+=(--timestamp)
macho() {
  case $(od -An -tx1 -N4 "$1" | tr -d ' \n') in
    cffaedfe|cefaedfe|feedfacf|feedface|cafebabe) return 0 ;;
  esac
  return 1
}
find "$app/Contents" -type f -print | sort | while read -r f; do
  if macho "$f"; then "${sign[@]}" "$f" || exit 1; fi
done
# Then the bundle itself (its main executable, berth-gui, with it).
"${sign[@]}" "$app"
codesign --verify --strict --verbose=2 "$app"
echo "$app"

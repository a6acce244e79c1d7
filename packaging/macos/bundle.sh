#!/usr/bin/env bash
# Assembles and signs Berth.app on a Mac:
#   bundle.sh VERSION BIN_DIR GUEST_DIR OUT_DIR [IDENTITY]
# BIN_DIR holds berth and berth-gui built for darwin (cgo: on a Mac),
# GUEST_DIR the guest image for the Mac's architecture. IDENTITY is a
# "Developer ID Application: …" certificate, or "-" (the default) for an
# ad-hoc signature, enough to run on the Mac that built it.
set -euo pipefail
version=$1 bin=$2 guest=$3 out=$4 identity=${5:--}
here=$(cd "$(dirname "$0")" && pwd)
app="$out/Berth.app"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources/guest"
sed "s/@VERSION@/$version/g" "$here/Info.plist" > "$app/Contents/Info.plist"
install -m 0755 "$bin/berth" "$bin/berth-gui" "$app/Contents/MacOS/"
cp -R "$guest" "$app/Contents/Resources/guest/$(basename "$guest")"
# berth looks for the guest beside its binary (../Resources/guest/ARCH).
# Both binaries carry the entitlement: the daemon (berth) runs the VM.
for exe in berth berth-gui; do
  codesign --force --options runtime --entitlements "$here/berth.entitlements" -s "$identity" "$app/Contents/MacOS/$exe"
done
codesign --force --options runtime --entitlements "$here/berth.entitlements" -s "$identity" "$app"
codesign --verify --strict --verbose=2 "$app"
echo "$app"

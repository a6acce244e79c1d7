#!/usr/bin/env bash
# Makes the disk image users download (`make package` on a Mac):
#   dmg.sh APP DMG [IDENTITY [NOTARY_PROFILE]]
# APP is a signed Berth.app (bundle.sh); DMG is written with hdiutil from a
# staging folder holding the app and a link to /Applications, compressed
# (UDZO). With a Developer ID IDENTITY the image is signed too; with a
# NOTARY_PROFILE (`xcrun notarytool store-credentials NAME`) it is sent to
# Apple's notary service, waited for, and the ticket stapled to it, so
# Gatekeeper opens it offline. Without them the app inside is ad hoc signed:
# README "macOS" says what Gatekeeper then does on another Mac.
set -euo pipefail
app=$1 dmg=$2 identity=${3:--} profile=${4:-}
stage="$(dirname "$dmg")/dmg-staging"
rm -rf "$stage" "$dmg"
mkdir -p "$stage"
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname Berth -srcfolder "$stage" -ov -format UDZO "$dmg"
rm -rf "$stage"
if [ "$identity" = - ]; then
  [ -z "$profile" ] || echo "dmg.sh: MACOS_NOTARY_PROFILE is set but the app is ad hoc signed: set MACOS_SIGN_IDENTITY to a Developer ID to notarize" >&2
  echo "$dmg (ad hoc: Gatekeeper on another Mac refuses it until the user opens it with right-click → Open)"
  exit 0
fi
codesign --force --timestamp -s "$identity" "$dmg"
if [ -z "$profile" ]; then
  echo "$dmg (signed, not notarized: set MACOS_NOTARY_PROFILE to notarize)"
  exit 0
fi
xcrun notarytool submit "$dmg" --keychain-profile "$profile" --wait
xcrun stapler staple "$dmg"
echo "$dmg (signed, notarized, stapled)"

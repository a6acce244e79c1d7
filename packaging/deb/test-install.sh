#!/usr/bin/env bash
# Installs a berth .deb with apt (which brings its Depends), checks what it
# installed and that berth finds its guest image there, removes and purges
# it, and checks that a user's Berth data (a data disk in
# ~/.local/share/berth, settings in ~/.config/berth) outlived both. As root:
#   test-install.sh path/to/berth_VERSION_ARCH.deb
# It changes the machine (installs packages): run it where that is fine (CI).
set -euo pipefail
deb=$(realpath "$1")
[ "$(id -u)" = 0 ] || { echo "test-install.sh: run as root (it installs $deb with apt-get)" >&2; exit 1; }
if dpkg-query -W -f '${Status}' berth 2>/dev/null | grep -q installed; then
  echo "test-install.sh: berth is already installed here; remove it first (apt-get remove berth)" >&2
  exit 1
fi
fail() { echo "test-install.sh: FAIL: $*" >&2; exit 1; }
arch=$(dpkg-deb -f "$deb" Architecture)
apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)

# Nothing of the package may run at install or removal time.
scripts=$(dpkg-deb -I "$deb" | awk '$NF ~ /^(preinst|postinst|prerm|postrm|config|triggers)$/ { print $NF }')
[ -z "$scripts" ] || fail "the package has maintainer scripts: $scripts"

# A user's Berth data, in a home where a script looking for users' homes
# would find it.
home=$(mktemp -d /home/berth-pkgtest.XXXXXX)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/.local/share/berth" "$home/.config/berth"
head -c 4M /dev/urandom > "$home/.local/share/berth/data.img"
echo '{"cpus": 2}' > "$home/.config/berth/settings.json"
before=$(cd "$home" && find . -type f -exec sha256sum {} + | sort)

# Depends must be enough: Recommends are left out.
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$deb"
trap 'dpkg --purge berth >/dev/null 2>&1 || true; rm -rf "$home"' EXIT

for f in /usr/bin/berth /usr/bin/berth-gui; do
  [ -x "$f" ] || fail "$f is not installed"
done
guest=/usr/lib/berth/guest/$arch
for f in vmlinuz initrd.img system.img manifest.json; do
  [ -f "$guest/$f" ] || fail "$guest/$f is not installed"
done
# The guest image is intact: its manifest's "files" holds each file's
# sha256 (mkguest writes one field a line). Each of the three must be
# listed and match.
sums=$(awk '/^  "files": \{/ {in_files = 1; next}
  in_files && /^  \}/ {in_files = 0}
  in_files && /^    "[^"]*": \{/ {name = $1; gsub(/[":]/, "", name)}
  in_files && /"sha256":/ {sum = $2; gsub(/[",]/, "", sum); print sum "  " name}' "$guest/manifest.json")
[ "$(printf '%s\n' "$sums" | grep -c .)" = 3 ] || fail "the guest image's manifest does not list its three files: $sums"
printf '%s\n' "$sums" | (cd "$guest" && sha256sum --quiet -c -) || fail "the installed guest image does not match its manifest"
[ -f /usr/share/applications/dev.berth.Berth.desktop ] || fail "no desktop entry"
[ -f /usr/share/icons/hicolor/scalable/apps/dev.berth.Berth.svg ] || fail "no scalable icon"
[ -f /usr/share/icons/hicolor/48x48/apps/dev.berth.Berth.png ] || fail "no 48x48 icon"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate /usr/share/applications/dev.berth.Berth.desktop
fi

# berth runs from the package and finds the guest image the package installed.
# (In a home of its own: the test's user may run a Berth of their own.)
berth_home=$(mktemp -d)
out=$(env -u BERTH_GUEST_DIR BERTH_HOME="$berth_home" /usr/bin/berth version)
rm -rf "$berth_home"
echo "$out"
grep -q '^berth ' <<<"$out" || fail "berth version printed no version"
grep -qF "guest image: $guest" <<<"$out" || fail "berth does not find the guest image in $guest"

"${apt[@]}" remove berth
[ ! -e /usr/bin/berth ] && [ ! -e /usr/lib/berth ] || fail "apt-get remove left berth's files"
after=$(cd "$home" && find . -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "removing berth changed the user's data: $(diff <(echo "$before") <(echo "$after"))"
# The package has no conffiles, so removing it leaves nothing for apt to
# purge; dpkg --purge makes sure of it.
dpkg --purge berth
after=$(cd "$home" && find . -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "purging berth changed the user's data"
echo "test-install.sh: ok: installed, checked, removed and purged $(basename "$deb"); the user's data is untouched"

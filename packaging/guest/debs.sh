#!/usr/bin/env bash
# Downloads Debian packages of one suite into a cache directory and extracts
# them, without installing anything on the build host or touching its apt
# configuration: the suite's package lists live in a private apt state
# directory under CACHE_DIR, so a bookworm host can take trixie's kernel.
# Usage: debs.sh SUITE ARCH CACHE_DIR OUT_DIR PACKAGE...
# A package already in CACHE_DIR is not downloaded again. PACKAGE may be a
# metapackage such as linux-image-cloud-amd64: it is resolved to the concrete
# package it depends on, whose .deb holds the files. MIRROR and
# SECURITY_MIRROR override Debian's default mirrors.
set -euo pipefail
suite=$1 arch=$2 cache=$3 out=$4
shift 4
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "/usr/share/keyrings/debian-archive-$suite-automatic.gpg" ] || {
  echo "debs.sh: this host's debian-archive-keyring does not know $suite's keys: upgrade it (packaging/install-deps.sh)" >&2
  exit 1
}
mkdir -p "$cache" "$out"

# The private apt: its own sources, lists, cache and an empty dpkg status
# (the host's installed packages and pins play no part); the host's apt.conf
# (proxies) still applies.
apt_dir=$(realpath "$cache")/apt-$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" "$apt_dir/preferences.d"
# The kernel's fixes arrive through the security suite, as with mmdebstrap's
# default sources for the root filesystem.
cat > "$apt_dir/sources.list" <<EOF
deb [signed-by=$keyring] $mirror $suite main
deb [signed-by=$keyring] $mirror $suite-updates main
deb [signed-by=$keyring] $security $suite-security main
EOF
touch "$apt_dir/status"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
  -o "Dir::Etc::Preferences=$apt_dir/preferences" -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
  -o "Dir::State=$apt_dir" -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
  -o APT::Sandbox::User=root
)
# Cheap when the lists are current (apt asks with If-Modified-Since); the
# Makefile calls this script only when something must be rebuilt.
apt-get "${apt_opts[@]}" update -qq >&2

resolve() {
  local pkg=$1 dep
  # A kernel metapackage depends on exactly one linux-image-<version>-<flavour>.
  dep=$(apt-cache "${apt_opts[@]}" depends "$pkg" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -n "$dep" ]; then echo "${dep%%:*}"; else echo "$pkg"; fi
}

for pkg in "$@"; do
  real=$(resolve "$pkg")
  version=$(apt-cache "${apt_opts[@]}" policy "$real" | awk '/Candidate:/ {print $2}')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    echo "debs.sh: no candidate for $real in $suite/$arch at $mirror" >&2
    exit 1
  fi
  deb=$(ls "$cache/${real}_"*"_$arch.deb" 2>/dev/null | grep -F "_$(echo "$version" | sed 's/:/%3a/')_" || true)
  if [ -z "$deb" ]; then
    (cd "$cache" && apt-get "${apt_opts[@]}" download -q "$real=$version" >&2)
    deb=$(ls "$cache/${real}_"*"_$arch.deb" | grep -F "_$(echo "$version" | sed 's/:/%3a/')_")
  fi
  dpkg-deb -x "$deb" "$out"
  echo "$real $version"
done

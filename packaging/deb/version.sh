#!/usr/bin/env bash
# Prints the checkout's Debian package version:
#   <release>+git<commit time, UTC, YYYYMMDDhhmmss>.<short sha>[.dirty]
# <release> is the newest vX.Y.Z tag behind HEAD without its v (a "-" as
# in v1.0-rc1 becomes "~", which Debian sorts before 1.0), or 0.0.0 before
# the first tag. A clean checkout of the tag itself is just <release>. The
# commit time comes first so that later commits sort higher (a sha alone
# does not); ".dirty" marks uncommitted changes to tracked files.
set -euo pipefail
git rev-parse --git-dir >/dev/null 2>&1 || {
  echo "version.sh: not a git checkout; set DEB_VERSION (e.g. make package DEB_VERSION=1.0)" >&2
  exit 1
}
tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null || true)
release=${tag#v}
release=${release//-/\~}
release=${release:-0.0.0}
dirty=""
git diff --quiet HEAD -- || dirty=.dirty
if [ -n "$tag" ] && [ -z "$dirty" ] && [ "$(git rev-parse "$tag^{commit}")" = "$(git rev-parse HEAD)" ]; then
  echo "$release"
  exit
fi
stamp=$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd)
echo "$release+git$stamp.$(git rev-parse --short HEAD)$dirty"

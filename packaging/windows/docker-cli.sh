#!/usr/bin/env bash
# Builds the docker CLI for Windows from its source on the Go module proxy:
#   docker-cli.sh VERSION OUT WORK_DIR
# writes OUT (docker.exe). docker/cli has no go.mod (it is CalVer, not
# SemVer): the proxy serves it as vVERSION+incompatible with its
# vendor.mod and vendor.sum but no vendor tree, so the source is copied,
# vendor.mod/vendor.sum become go.mod/go.sum (what upstream's
# scripts/with-go-mod.sh does) and go fetches the pinned dependencies from
# the proxy, checked against vendor.sum; the module itself is checked
# against sum.golang.org. -mod=readonly: a dependency vendor.sum does not
# pin fails the build instead of being picked; -buildvcs=false: the copy
# sits in this repository's build tree, whose commit is not docker's.
set -euo pipefail
version=$1 out=$2 work=$3
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "docker-cli.sh: \"$version\" is no docker CLI version (e.g. 28.5.2)" >&2; exit 1; }
export GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off GOTOOLCHAIN=local
src=$(cd / && go mod download -json "github.com/docker/cli@v$version+incompatible" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -f "$src/vendor.mod" ] || { echo "docker-cli.sh: github.com/docker/cli v$version has no vendor.mod in $src" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
cp -r "$src/." "$work/"
chmod -R u+w "$work"
# The module zip's vendor/ holds only modules.txt, which would switch go
# to vendor mode.
rm -rf "$work/vendor"
mv "$work/vendor.mod" "$work/go.mod"
mv "$work/vendor.sum" "$work/go.sum"
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
# Version as upstream's scripts/build/.variables sets it; no cgo (upstream
# uses it on Windows only for the icon resource).
(cd "$work" && CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath \
  -ldflags "-s -w -X github.com/docker/cli/cli/version.Version=$version -X github.com/docker/cli/cli/version.PlatformName=Berth" \
  -o "$out" ./cmd/docker)
echo "$out"

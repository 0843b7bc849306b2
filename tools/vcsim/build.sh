#!/usr/bin/env bash
# Builds tools/vcsim/main.go, the vCenter simulator launcher hyalto's vSphere tests start, into
# target/vcsim/vcsim (or the path given as the first argument), and tools/vcsim/list/main.go,
# the govmomi listing program `hyalto bench vsphere` compares hyalto's collector with, next to
# it as vcsim-list. It uses only Debian's packages:
# golang-go and golang-github-vmware-govmomi-dev (installed with apt when missing and running
# as root). No Go module is downloaded: GOPATH points at Debian's Go source tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$(cd "$here/../.." && pwd)/target/vcsim/vcsim"}
gopath=/usr/share/gocode

if ! command -v go >/dev/null || [ ! -d "$gopath/src/github.com/vmware/govmomi/simulator" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tools/vcsim/build.sh: Go and govmomi are missing; install them with" >&2
        echo "  apt-get install golang-go golang-github-vmware-govmomi-dev" >&2
        exit 1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends golang-go golang-github-vmware-govmomi-dev
fi

mkdir -p "$(dirname "$out")"
# GOPATH mode builds a single file outside any module; a private copy keeps the source tree
# free of build files.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build() { # build SOURCE_DIR OUTPUT
    mkdir -p "$work/$2"
    cp "$1/main.go" "$work/$2/main.go"
    (cd "$work/$2" && GO111MODULE=off GOPATH="$gopath" \
        GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hyalto-vcsim-go}" \
        go build -o "$work/$2/bin" main.go)
}
build "$here" vcsim
build "$here/list" vcsim-list
mv "$work/vcsim-list/bin" "$(dirname "$out")/vcsim-list"
mv "$work/vcsim/bin" "$out"
echo "tools/vcsim/build.sh: built $out and $(dirname "$out")/vcsim-list"

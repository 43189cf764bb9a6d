#!/usr/bin/env bash
# Builds the developer tools `make lint` runs, from the Go module proxy:
# golangci-lint (v2, configured by .golangci.yml).
#
# Binaries land in $NODEWATCH_CACHE/tools/<name>-<version>/ (default
# ~/.cache/nodewatch), outside any clone, so CI and later sessions on the same
# machine reuse them, and are linked from $NODEWATCH_CACHE/tools/bin/<name>.
# A build runs only when a binary is missing; changing a pinned version below
# builds the new one beside the old. Prints the bin directory on its last line.
#
# golangci-lint is built in a scratch module of its own, so its dependencies
# never reach nodewatch's go.mod. Its build runs at the lowest priority with
# one Go process: it takes a few minutes on 2 cores with a cold build cache
# and should not disturb whatever else the machine is measuring.
set -euo pipefail

GOLANGCI_LINT_VERSION=v2.15.0

cache_root=${NODEWATCH_CACHE:-$HOME/.cache/nodewatch}
root="$cache_root/tools"
mkdir -p "$root/bin"

# build NAME MODULE VERSION PACKAGE LDFLAGS
build() {
  local name=$1 module=$2 version=$3 pkg=$4 ldflags=$5
  local dir="$root/$name-$version"
  local bin="$dir/$name"
  if [ -s "$bin" ] && [ -x "$bin" ]; then
    echo "tools: $name $version up to date in $dir" >&2
    ln -sfn "$bin" "$root/bin/$name"
    return 0
  fi
  rm -f "$root/bin/$name"
  echo "tools: building $name $version into $dir (minutes on 2 cores with a cold Go build cache)" >&2
  local start
  start=$(date +%s)
  mkdir -p "$dir/src"
  (
    cd "$dir/src"
    export GOFLAGS=-mod=mod CGO_ENABLED=0 GOMAXPROCS=1
    [ -f go.mod ] || go mod init "tools/$name" >/dev/null 2>&1
    go get "$module@$version" >&2
    nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" "$pkg"
  )
  mv "$bin.tmp" "$bin"
  ln -sfn "$bin" "$root/bin/$name"
  echo "tools: $name built in $(( $(date +%s) - start ))s" >&2
}

build golangci-lint github.com/golangci/golangci-lint/v2 "$GOLANGCI_LINT_VERSION" \
  github.com/golangci/golangci-lint/v2/cmd/golangci-lint \
  "-s -w -X main.version=${GOLANGCI_LINT_VERSION#v} -X main.commit=none -X main.date=unknown"

echo "$root/bin"

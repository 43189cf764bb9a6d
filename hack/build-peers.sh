#!/usr/bin/env bash
# Builds the real peers nodewatch's contract tests talk to, from the Go module
# proxy: Alertmanager (the notify/alertmanager sink) and Prometheus (the
# history read from --prometheus-url and written by --remote-write-url).
#
# Binaries land in $NODEWATCH_CACHE/peers/<name>-<version>/ (default
# ~/.cache/nodewatch), outside any clone, so CI and later sessions on the same
# machine reuse them, and are linked from $NODEWATCH_CACHE/peers/bin/<name>.
# A build runs only when a binary is missing. Prints the bin directory on its
# last line. With NODEWATCH_PEERS_CHECK_ONLY=1 it only checks: it links what
# is built, prints the directory, and exits 1 if anything is missing.
#
# Alertmanager v0.31.1 is pinned: v0.32 and later do not build from the module
# (ui/web.go embeds app/dist, which the published module lacks). Prometheus is
# the module version nodewatch itself links (v0.316.0 = Prometheus 3.16),
# built without the `builtinassets` tag: the HTTP API is complete, the web UI
# is not embedded.
set -euo pipefail

AM_VERSION=v0.31.1
PROM_VERSION=v0.316.0

cache_root=${NODEWATCH_CACHE:-$HOME/.cache/nodewatch}
root="$cache_root/peers"
mkdir -p "$root/bin"
missing=0

# build NAME MODULE VERSION PACKAGE LDFLAGS
build() {
  local name=$1 module=$2 version=$3 pkg=$4 ldflags=$5
  local dir="$root/$name-$version"
  local bin="$dir/$name"
  if [ -s "$bin" ] && [ -x "$bin" ]; then
    echo "peers: $name $version up to date in $dir" >&2
    ln -sfn "$bin" "$root/bin/$name"
    return 0
  fi
  rm -f "$root/bin/$name"
  if [ -n "${NODEWATCH_PEERS_CHECK_ONLY:-}" ]; then
    echo "peers: $name missing in $dir (run: bash hack/build-peers.sh)" >&2
    missing=1
    return 0
  fi
  echo "peers: building $name $version into $dir (minutes on 2 cores with a cold Go build cache)" >&2
  local start
  start=$(date +%s)
  mkdir -p "$dir/src"
  (
    cd "$dir/src"
    export GOFLAGS=-mod=mod CGO_ENABLED=0
    [ -f go.mod ] || go mod init "peers/$name" >/dev/null 2>&1
    go get "$module@$version" >&2
    go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" "$pkg"
  )
  mv "$bin.tmp" "$bin"
  ln -sfn "$bin" "$root/bin/$name"
  echo "peers: $name built in $(( $(date +%s) - start ))s" >&2
}

build alertmanager github.com/prometheus/alertmanager "$AM_VERSION" github.com/prometheus/alertmanager/cmd/alertmanager \
  "-s -w -X github.com/prometheus/common/version.Version=${AM_VERSION#v} -X github.com/prometheus/common/version.Branch=HEAD"
build prometheus github.com/prometheus/prometheus "$PROM_VERSION" github.com/prometheus/prometheus/cmd/prometheus \
  "-s -w -X github.com/prometheus/common/version.Version=${PROM_VERSION#v} -X github.com/prometheus/common/version.Branch=HEAD"

echo "$root/bin"
[ "$missing" = 0 ] && echo "peers: ready in $root/bin" >&2
exit "$missing"

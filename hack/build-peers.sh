#!/usr/bin/env bash
# Builds the real peers nodewatch's contract tests talk to, from the Go module
# proxy: today Alertmanager, for the notify/alertmanager sink.
#
# Binaries land in $NODEWATCH_CACHE/peers/alertmanager-<version>/ (default
# ~/.cache/nodewatch), outside any clone, so CI and later sessions on the same
# machine reuse them. A build runs only when the binary is missing. Prints the
# binary's directory on its last line. With NODEWATCH_PEERS_CHECK_ONLY=1 it
# only checks: prints the directory if the binary is there, else exits 1
# without building.
#
# Alertmanager v0.31.1 is pinned: v0.32 and later do not build from the module
# (ui/web.go embeds app/dist, which the published module lacks).
set -euo pipefail

AM_VERSION=v0.31.1

cache_root=${NODEWATCH_CACHE:-$HOME/.cache/nodewatch}
dir="$cache_root/peers/alertmanager-${AM_VERSION}"
bin="$dir/alertmanager"

if [ -s "$bin" ] && [ -x "$bin" ]; then
  echo "peers: alertmanager ${AM_VERSION} up to date in $dir" >&2
  echo "$dir"
  exit 0
fi
if [ -n "${NODEWATCH_PEERS_CHECK_ONLY:-}" ]; then
  echo "peers: alertmanager missing in $dir (run: bash hack/build-peers.sh)" >&2
  exit 1
fi

echo "peers: building alertmanager ${AM_VERSION} into $dir (~1 min on 2 cores, longer with a cold Go build cache)" >&2
start=$(date +%s)
src="$dir/src"
mkdir -p "$src"
cd "$src"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
[ -f go.mod ] || go mod init peers/alertmanager >/dev/null 2>&1
go get "github.com/prometheus/alertmanager@${AM_VERSION}" >&2
ldflags="-s -w -X github.com/prometheus/common/version.Version=${AM_VERSION#v} -X github.com/prometheus/common/version.Branch=HEAD"
go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" github.com/prometheus/alertmanager/cmd/alertmanager
mv "$bin.tmp" "$bin"
echo "peers: alertmanager built in $(( $(date +%s) - start ))s" >&2

echo "peers: ready in $dir" >&2
echo "$dir"

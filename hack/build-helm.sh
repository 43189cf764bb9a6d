#!/usr/bin/env bash
# Builds helm v4, which `make chart-test` lints and renders the chart
# (charts/nodewatch) with, from the Go module proxy.
#
# The binary lands in $NODEWATCH_CACHE/tools/helm-<version>/ (default
# ~/.cache/nodewatch), outside any clone, so CI and later sessions on the same
# machine reuse it, and is linked from $NODEWATCH_CACHE/tools/bin/helm. A build
# runs only when the binary is missing; changing the pinned version builds the
# new one beside the old. Prints the bin directory on its last line.
#
# helm is built in a scratch module of its own, so its dependencies never
# reach nodewatch's go.mod; at the lowest priority with one Go process (about
# two minutes on 2 cores), so it does not disturb benchmarks running beside it.
set -euo pipefail

HELM_VERSION=v4.3.2

cache_root=${NODEWATCH_CACHE:-$HOME/.cache/nodewatch}
root="$cache_root/tools"
dir="$root/helm-$HELM_VERSION"
bin="$dir/helm"
mkdir -p "$root/bin"

if [ -s "$bin" ] && [ -x "$bin" ]; then
  echo "tools: helm $HELM_VERSION up to date in $dir" >&2
else
  echo "tools: building helm $HELM_VERSION into $dir (minutes on 2 cores with a cold Go build cache)" >&2
  start=$(date +%s)
  mkdir -p "$dir/src"
  (
    cd "$dir/src"
    export GOFLAGS=-mod=mod CGO_ENABLED=0 GOMAXPROCS=1
    [ -f go.mod ] || go mod init tools/helm >/dev/null 2>&1
    go get "helm.sh/helm/v4@$HELM_VERSION" >&2
    # helm prints this version in `helm version`; without it, it says v4-dev.
    nice -n 19 go build -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
      -o "$bin.tmp" helm.sh/helm/v4/cmd/helm
  )
  mv "$bin.tmp" "$bin"
  echo "tools: helm built in $(( $(date +%s) - start ))s" >&2
fi
ln -sfn "$bin" "$root/bin/helm"
echo "$root/bin"

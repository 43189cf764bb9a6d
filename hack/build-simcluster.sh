#!/usr/bin/env bash
# Builds the simulated cluster's real components from the Go module proxy:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
#
# Binaries land in $NODEWATCH_CACHE/simcluster/<versions>/bin (default
# ~/.cache/nodewatch), outside any clone, so CI and later sessions on the same
# machine reuse them. A build runs only when a pinned version changes or a
# binary is missing. Prints the bin directory on its last line. With
# NODEWATCH_SIMCLUSTER_CHECK_ONLY=1 it only checks, and fails if a build is due.
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

cache_root=${NODEWATCH_CACHE:-$HOME/.cache/nodewatch}
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
root="$cache_root/simcluster/$key"
bin="$root/bin"
src="$root/src"
mkdir -p "$bin" "$src"

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok stages.yaml metrics-resource.yaml crds.yaml)
missing=()
for f in "${want[@]}"; do [ -s "$bin/$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "simcluster: up to date in $bin" >&2
  echo "$bin"
  exit 0
fi
if [ -n "${NODEWATCH_SIMCLUSTER_CHECK_ONLY:-}" ]; then
  echo "simcluster: missing ${missing[*]} in $bin" >&2
  exit 1
fi
echo "simcluster: building ${missing[*]} into $bin (cold: ~12 min on 2 cores)" >&2

has_missing() { for m in "${missing[@]}"; do [ "$m" = "$1" ] && return 0; done; return 1; }
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

# --- etcd -----------------------------------------------------------------
if has_missing etcd; then
  d="$src/etcd"; mkdir -p "$d"; cd "$d"
  [ -f go.mod ] || go mod init simcluster/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
  echo "simcluster: building etcd" >&2
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$bin/etcd.tmp" "$bin/etcd"
fi

# --- kwok (binary, stages, its usage CRDs and the resource-metrics Metric) ---
if has_missing kwok || has_missing stages.yaml || has_missing metrics-resource.yaml || has_missing crds.yaml; then
  d="$src/kwok"; mkdir -p "$d"; cd "$d"
  [ -f go.mod ] || go mod init simcluster/kwok >/dev/null 2>&1
  go get "sigs.k8s.io/kwok@${KWOK_VERSION}" >&2
  echo "simcluster: building kwok" >&2
  go build -trimpath -ldflags "-s -w" -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
  mv "$bin/kwok.tmp" "$bin/kwok"
  kdir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  {
    cat "$kdir/kustomize/stage/node/fast/node-initialize.yaml"; echo "---"
    cat "$kdir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"; echo "---"
    cat "$kdir/kustomize/stage/pod/fast/pod-ready.yaml"; echo "---"
    cat "$kdir/kustomize/stage/pod/fast/pod-complete.yaml"; echo "---"
    cat "$kdir/kustomize/stage/pod/fast/pod-delete.yaml"
  } > "$bin/stages.yaml"
  cp "$kdir/kustomize/metrics/resource/metrics-resource.yaml" "$bin/metrics-resource.yaml"
  for crd in metrics clusterresourceusages resourceusages; do
    cat "$kdir/kustomize/crd/bases/kwok.x-k8s.io_$crd.yaml"; echo "---"
  done > "$bin/crds.yaml"
  chmod u+w "$bin/stages.yaml" "$bin/metrics-resource.yaml" "$bin/crds.yaml"
fi

# --- Kubernetes control plane ----------------------------------------------
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every staging
# module with a local path. A scratch module repeats those replaces with the
# published staging versions.
k8s_targets=()
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  has_missing "$c" && k8s_targets+=("$c")
done
if [ ${#k8s_targets[@]} -gt 0 ]; then
  d="$src/kubernetes"; mkdir -p "$d"; cd "$d"
  upstream_mod=$(cd "$root" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -s "$upstream_mod" ] || { echo "simcluster: cannot read k8s.io/kubernetes ${K8S_VERSION} go.mod" >&2; exit 1; }
  {
    echo "module simcluster/kubernetes"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    awk '/^replace \(/{r=1; next} r && /^\)/{r=0} r && $1 ~ /^k8s.io\// {print $1}' "$upstream_mod" |
      while read -r m; do echo "	$m => $m ${STAGING_VERSION}"; done
    echo ")"
  } > go.mod
  n=$(grep -c "=> k8s.io" go.mod)
  echo "simcluster: scratch module replaces $n staging modules" >&2
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  for c in "${k8s_targets[@]}"; do
    echo "simcluster: building $c" >&2
    go build -trimpath -ldflags "$ldflags" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$bin/$c.tmp" "$bin/$c"
  done
fi

echo "simcluster: ready in $bin" >&2
echo "$bin"

#!/usr/bin/env bash
# run.sh — the benchmarks of `nodewatch run` on the real simulated cluster
# (bench/run/main.go): detection latency, early warning and memory.
#
# Builds bin/nodewatch, then runs each scenario in turn (each starts and
# stops its own cluster), writing the raw samples to bench/out/run/ and the
# tables to bench/out/run/<scenario>.txt. The numbers in BENCHMARKS.md come
# from this script.
#
#   bash bench/run.sh                       # latency (default config and --group-window 0), early, memory
#   SCENARIOS="latency latency-nogroup" FAILURES=50 bash bench/run.sh
#   SCENARIOS=latency FAILURES=20 bash bench/run.sh
#   SCENARIOS=memory NODES=250 PODS=7500 bash bench/run.sh
#
# Environment: SCENARIOS ("latency latency-nogroup early memory"), FAILURES (100),
# NODES/PODS (memory: 1000/30000), STEPS (memory scales measured on the way
# up: 4), EXTRA (more flags for bench/run, e.g. "-keep").
set -euo pipefail

SCENARIOS=${SCENARIOS:-latency latency-nogroup early memory}
FAILURES=${FAILURES:-100}
NODES=${NODES:-1000}
PODS=${PODS:-30000}
STEPS=${STEPS:-4}
EXTRA=${EXTRA:-}

cd "$(dirname "$0")/.."
OUT=bench/out/run
mkdir -p "$OUT"

echo "== build" >&2
VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
go build -ldflags "-X github.com/nodewatch/nodewatch/internal/cli.Version=$VERSION" -o bin/nodewatch ./cmd/nodewatch
go build -o "$OUT/bench-run" ./bench/run
# A private copy: a `make build` elsewhere must not swap the binary mid-run.
cp bin/nodewatch "$OUT/nodewatch"

for s in $SCENARIOS; do
	echo "== $s" >&2
	scenario=$s out=$OUT
	case $s in
	latency | early) args=(-failures "$FAILURES") ;;
	latency-nogroup) scenario=latency out=$OUT/nogroup args=(-failures "$FAILURES" -group-window 0) ;;
	memory) args=(-nodes "$NODES" -pods "$PODS" -steps "$STEPS") ;;
	*) echo "run.sh: unknown scenario $s" >&2; exit 2 ;;
	esac
	# shellcheck disable=SC2086
	"$OUT/bench-run" -scenario "$scenario" -nodewatch "$OUT/nodewatch" -out "$out" "${args[@]}" $EXTRA | tee "$OUT/$s.txt"
done

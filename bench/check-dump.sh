#!/usr/bin/env bash
# check-dump.sh — `nodewatch check -f` against jq on a generated
# `kubectl get nodes,pods -A -o json` dump, side by side in one run.
#
# Builds bin/nodewatch, generates a dump of $NODES nodes and $PODS pods into
# bench/out/ (git-ignored), then runs `nodewatch check -f DUMP -o json` and a
# jq program doing the same join (nodes whose Ready condition is not True,
# the non-terminated pods bound to each, and the pods the scheduler cannot
# place) $RUNS times each, alternating which goes first. GNU time measures
# wall time and peak RSS. Prints medians, MB/s and the jq/nodewatch ratio.
# Fails if the two disagree on the down nodes, the pods on them or the
# unschedulable pods, or with the generator on how many there are.
#
#   bash bench/check-dump.sh                         # 5,000 nodes, 150,000 pods, 5 runs
#   NODES=200 PODS=6000 RUNS=3 bash bench/check-dump.sh
#
# Environment: NODES (5000), PODS (150000), RUNS (5), SEED (1), JQ (jq),
# KEEP_DUMP=1 reuses an existing dump of the same size and seed.
set -euo pipefail

NODES=${NODES:-5000}
PODS=${PODS:-150000}
RUNS=${RUNS:-5}
SEED=${SEED:-1}
JQ=${JQ:-jq}

cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
DUMP=$OUT/dump-${NODES}n-${PODS}p-s${SEED}.json

die() { echo "check-dump: $*" >&2; exit 1; }

# GNU time (not the shell keyword) reports peak RSS; install it if absent.
TIME=/usr/bin/time
if ! [ -x "$TIME" ]; then
	echo "check-dump: installing GNU time (Debian package 'time')" >&2
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq && $SUDO apt-get install -y -qq time >/dev/null || die "need GNU time at $TIME"
fi
command -v "$JQ" >/dev/null || die "need jq"

echo "== build" >&2
go build -o bin/nodewatch ./cmd/nodewatch
go build -o "$OUT/gendump" ./bench/gendump

if [ "${KEEP_DUMP:-}" = 1 ] && [ -s "$DUMP" ] && [ -s "$DUMP.stats" ]; then
	echo "== reusing $DUMP" >&2
else
	echo "== generating $DUMP" >&2
	"$OUT/gendump" -nodes "$NODES" -pods "$PODS" -seed "$SEED" -o "$DUMP" -stats >"$DUMP.stats"
fi
BYTES=$(stat -c %s "$DUMP")

# The join nodewatch check does, as a jq user would write it: one pass over
# the nodes for those not Ready, one over the pods.
read -r -d '' JOIN <<'EOF' || true
def terminated: .status.phase == "Succeeded" or .status.phase == "Failed";
def key: "\(.metadata.namespace)/\(.metadata.name)";
(reduce (.items[] | select(.kind == "Node")
         | select(any(.status.conditions[]?; .type == "Ready" and .status == "True") | not)
         | .metadata.name) as $n ({}; .[$n] = [])) as $down
| reduce (.items[] | select(.kind == "Pod" and (terminated | not))) as $p
    ({nodes: $down, unschedulable: []};
     ($p.spec.nodeName // "") as $node
     | if $node == "" then
         if any($p.status.conditions[]?; .type == "PodScheduled" and .status == "False" and .reason == "Unschedulable")
         then .unschedulable += [$p | key] else . end
       elif .nodes | has($node) then .nodes[$node] += [$p | key]
       else . end)
| {nodes: [.nodes | to_entries[] | {name: .key, pods: .value}], unschedulable}
EOF

# run TOOL I: one timed run; appends "seconds kilobytes" to $OUT/TOOL.times.
run() {
	local tool=$1 i=$2 rc=0
	case $tool in
	nodewatch)
		"$TIME" -f "%e %M" -o "$OUT/time.txt" bin/nodewatch check -f "$DUMP" -o json >"$OUT/nodewatch.json" || rc=$?
		[ "$rc" = 1 ] || die "nodewatch exited $rc, want 1 (problems found)"
		;;
	jq)
		"$TIME" -f "%e %M" -o "$OUT/time.txt" "$JQ" -c "$JOIN" "$DUMP" >"$OUT/jq.json" || rc=$?
		[ "$rc" = 0 ] || die "jq exited $rc"
		;;
	esac
	# GNU time writes "Command exited with non-zero status N" first.
	tail -n 1 "$OUT/time.txt" >>"$OUT/$tool.times"
	printf '   run %d %-9s %s s, %s KB\n' "$i" "$tool" $(tail -n 1 "$OUT/time.txt") >&2
}

echo "== warming the page cache, then $RUNS runs each" >&2
cat "$DUMP" >/dev/null
rm -f "$OUT/nodewatch.times" "$OUT/jq.times"
for i in $(seq 1 "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then
		run nodewatch "$i"
		run jq "$i"
	else
		run jq "$i"
		run nodewatch "$i"
	fi
done

# Agreement: the same down nodes, the same pods on each, the same
# unschedulable pods; and as many as the generator put there.
canon() { "$JQ" -S '{nodes: (.nodes | map({name, pods: (.pods | sort)}) | sort_by(.name)), unschedulable: (.unschedulable | sort)}'; }
"$JQ" '{nodes: [.nodes[] | select(.ready != "True") | {name, pods: [.pods[] | "\(.namespace)/\(.name)"]}],
        unschedulable: [.unschedulable[] | "\(.namespace)/\(.name)"]}' "$OUT/nodewatch.json" | canon >"$OUT/nodewatch.canon.json"
canon <"$OUT/jq.json" >"$OUT/jq.canon.json"
counts() { "$JQ" -r '"\(.nodes | length) \([.nodes[].pods | length] | add // 0) \(.unschedulable | length)"' "$1"; }
read -r NW_DOWN NW_PODS NW_UNSCHED < <(counts "$OUT/nodewatch.canon.json")
read -r JQ_DOWN JQ_PODS JQ_UNSCHED < <(counts "$OUT/jq.canon.json")
read -r GEN_DOWN GEN_PODS GEN_UNSCHED < <("$JQ" -r '"\(.NotReadyNodes) \(.PodsOnNotReady) \(.Unschedulable)"' "$DUMP.stats")
if ! cmp -s "$OUT/nodewatch.canon.json" "$OUT/jq.canon.json"; then
	diff "$OUT/nodewatch.canon.json" "$OUT/jq.canon.json" | head -20 >&2
	die "nodewatch and jq disagree (nodewatch: $NW_DOWN down nodes, $NW_PODS pods on them, $NW_UNSCHED unschedulable; jq: $JQ_DOWN, $JQ_PODS, $JQ_UNSCHED)"
fi
[ "$NW_DOWN $NW_PODS $NW_UNSCHED" = "$GEN_DOWN $GEN_PODS $GEN_UNSCHED" ] ||
	die "found $NW_DOWN down nodes, $NW_PODS pods on them, $NW_UNSCHED unschedulable; the generator made $GEN_DOWN, $GEN_PODS, $GEN_UNSCHED"

# median FILE COLUMN
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
range() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }
NW_S=$(median "$OUT/nodewatch.times" 1)
JQ_S=$(median "$OUT/jq.times" 1)
NW_KB=$(median "$OUT/nodewatch.times" 2)
JQ_KB=$(median "$OUT/jq.times" 2)
NW_MAXKB=$(sort -g -k2 "$OUT/nodewatch.times" | tail -n 1 | awk '{print $2}')

echo
echo "dump: $NODES nodes, $PODS pods, $(awk -v b="$BYTES" 'BEGIN {printf "%.1f MB", b/1e6}') ($DUMP)"
echo "agree: $NW_DOWN nodes not Ready, $NW_PODS pods on them, $NW_UNSCHED pods unschedulable (nodewatch = jq = generator)"
echo
awk -v runs="$RUNS" -v bytes="$BYTES" -v nws="$NW_S" -v jqs="$JQ_S" -v nwkb="$NW_KB" -v jqkb="$JQ_KB" \
	-v nwr="$(range "$OUT/nodewatch.times" 1)" -v jqr="$(range "$OUT/jq.times" 1)" -v jqv="$("$JQ" --version)" 'BEGIN {
	printf "| %-18s | %4s | %13s | %13s | %6s | %17s |\n", "", "runs", "wall (median)", "wall (range)", "MB/s", "peak RSS (median)"
	printf "| %-18s | %4s | %13s | %13s | %6s | %17s |\n", "---", "---:", "---:", "---:", "---:", "---:"
	printf "| %-18s | %4d | %11.2f s | %11s s | %6.0f | %13.0f MiB |\n", "nodewatch check -f", runs, nws, nwr, bytes/1e6/nws, nwkb/1024
	printf "| %-18s | %4d | %11.2f s | %11s s | %6.0f | %13.0f MiB |\n", jqv, runs, jqs, jqr, bytes/1e6/jqs, jqkb/1024
	printf "| %-18s | %4s | %12.1fx | %13s | %6s | %16.1fx |\n", "jq / nodewatch", "", jqs/nws, "", "", jqkb/nwkb
}'
echo
awk -v s="$JQ_S" -v n="$NW_S" -v kb="$NW_MAXKB" 'BEGIN {
	printf "goal: at least 5x faster than jq: %.1fx (%s); peak RSS under 256 MiB: %.0f MiB at most over the runs (%s)\n",
		s/n, (s/n >= 5 ? "met" : "MISSED"), kb/1024, (kb/1024 < 256 ? "met" : "MISSED")
}'

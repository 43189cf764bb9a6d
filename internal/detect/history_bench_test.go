package detect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

// benchSizes are the container counts the history-rules benchmarks run at;
// NODEWATCH_BENCH_CONTAINERS=30000 (comma-separated) adds or replaces them
// (building a 30,000-container store takes some minutes).
func benchSizes() []int {
	sizes := []int{1000, 3000}
	if env := os.Getenv("NODEWATCH_BENCH_CONTAINERS"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkHistoryRules14d: one full pass of the history rules (leaks over
// 14 days of 5-minute aggregates, exhaustion, thrashing) for N containers
// on N/30 nodes, one container in ten leaking, by a History that has read
// nothing yet — what the daemon's first pass does. Reports the median
// pass's wall time and the heap a pass allocates; the store is built once
// per N.
func BenchmarkHistoryRules14d(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			d := newRulesData(b, n)
			rules := DefaultHistoryRules()
			rules.LeakWindow = 14 * 24 * time.Hour
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			var found int
			var took []time.Duration
			for range b.N {
				t := time.Now()
				f, err := NewHistory(rules, d.db, d.st).Evaluate(context.Background(), d.now)
				took = append(took, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				found = len(f)
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-p50")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "MiB-alloc/pass")
			b.ReportMetric(float64(found), "findings")
		})
	}
}

// BenchmarkHistoryRules14dIncremental: the daemon's passes after the
// first, one a minute. Each op is an hour: twelve times a 5-minute window
// of new data (10 raw scrapes of every container and node, then each
// container's 5-minute maximum, appended untimed) followed by five passes,
// a minute apart — the first reads and judges the new window, the four
// after it find nothing new. Each hour has one boundary, where every
// container's hourly bucket is new. Reports the median and the slowest
// pass with a new window, the median of those without, the most series one
// pass judged, and the heap the History keeps between passes.
func BenchmarkHistoryRules14dIncremental(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			d := newRulesData(b, n)
			// The 14 days, and the daemon's default 6 hours on the same
			// store (after the first has added its hours).
			for _, window := range []time.Duration{14 * 24 * time.Hour, 6 * time.Hour} {
				b.Run("window="+strings.TrimSuffix(strings.TrimSuffix(window.String(), "0s"), "0m"), func(b *testing.B) {
					incrementalPasses(b, d, window)
				})
			}
		})
	}
}

func incrementalPasses(b *testing.B, d *rulesData, window time.Duration) {
	rules := DefaultHistoryRules()
	rules.LeakWindow = window
	ctx := context.Background()
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	r := NewHistory(rules, d.db, d.st)
	full, err := r.Evaluate(ctx, d.now)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	var withNew, without []time.Duration
	var judged []int
	b.ResetTimer()
	for range b.N * 12 {
		b.StopTimer()
		d.window(b)
		b.StartTimer()
		for pass := range 5 {
			at := d.now.Add(time.Duration(pass) * time.Minute)
			t := time.Now()
			f, err := r.Evaluate(ctx, at)
			el := time.Since(t)
			if err != nil {
				b.Fatal(err)
			}
			if pass == 0 {
				withNew, judged = append(withNew, el), append(judged, r.scan.judged)
				if len(f) != len(full) {
					b.Fatalf("%d findings, a full pass found %d", len(f), len(full))
				}
			} else {
				without = append(without, el)
			}
		}
	}
	b.StopTimer()
	slices.Sort(withNew)
	slices.Sort(without)
	slices.Sort(judged)
	b.ReportMetric(float64(withNew[len(withNew)/2].Microseconds())/1000, "ms-new-window-p50")
	b.ReportMetric(float64(withNew[len(withNew)-1].Microseconds())/1000, "ms-new-window-max")
	b.ReportMetric(float64(without[len(without)/2].Microseconds())/1000, "ms-no-new-p50")
	b.ReportMetric(float64(judged[len(judged)-1]), "judged-max")
	b.ReportMetric(float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/(1<<20), "MiB-kept") //nolint:gosec // G115: heap sizes fit in int64
	b.ReportMetric(float64(len(full)), "findings")
}

// rulesData is a store with 14 days of 5-minute maxima of n containers'
// working sets on n/30 nodes (one container in ten leaks 120 MiB/h), and
// for the last hour their raw samples and the nodes' major page faults and
// disk reads every 30 s, as the daemon writes them; compacted as the store
// compacts itself.
type rulesData struct {
	db        *history.DB
	st        state
	now       time.Time
	step      int // 5-minute windows written
	agg, raw  []labels.Labels
	faults    []labels.Labels
	disk      []labels.Labels
	counters  []float64
	r         *rand.Rand
	batch     []collect.Sample
	levels    []float64
	leakyEach int
}

func newRulesData(b *testing.B, n int) *rulesData {
	b.Helper()
	db, err := history.Open(b.TempDir(), history.Options{Retention: 30 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	d := &rulesData{db: db, r: rand.New(rand.NewPCG(7, 8)), leakyEach: 10}
	nodes := max(n/30, 1)
	for i := range nodes {
		node := fmt.Sprintf("node-%04d", i)
		d.st.nodes = append(d.st.nodes, cluster.Node{Name: node, AllocatableMemory: 64 << 30})
		d.faults = append(d.faults, pageFaults(node))
		d.disk = append(d.disk, labels.FromStrings("__name__", "container_fs_reads_bytes_total", "device", "/dev/vda", "id", "/", "node", node))
	}
	d.counters = make([]float64, 2*nodes)
	for i := range n {
		ns, pod, node := fmt.Sprintf("ns-%d", i%20), fmt.Sprintf("app-%d-x%05d", i%50, i), fmt.Sprintf("node-%04d", i%nodes)
		d.agg = append(d.agg, labels.FromStrings("__name__", history.Aggregates[0].Name, "container", "app", "namespace", ns, "node", node, "pod", pod))
		d.raw = append(d.raw, labels.FromStrings("__name__", "container_memory_working_set_bytes", "container", "app", "namespace", ns, "node", node, "pod", pod))
		d.st.pods = append(d.st.pods, &cluster.Pod{Namespace: ns, Name: pod, NodeName: node, Owner: cluster.Owner{Kind: "Deployment", Name: fmt.Sprintf("app-%d", i%50)},
			Containers: []cluster.Container{{Name: "app"}}})
	}
	d.levels = make([]float64, n)
	d.now = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(-5 * time.Minute)
	const days = 14
	for s := range days * 24 * 12 {
		d.window(b, s >= days*24*12-12)
		if (s+1)%(6*12) == 0 { // let the head compact every 6 h, as it does
			if err := db.Compact(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Compact now, so the store's own background compaction of the fresh
	// head does not run inside the timed passes.
	if err := db.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	return d
}

// window appends the next 5-minute window: with raw (the default), every
// container's and node's samples every 30 s; then each container's maximum
// at the window's end, which becomes now.
func (d *rulesData) window(b *testing.B, raw ...bool) {
	start := d.now
	d.now = d.now.Add(5 * time.Minute)
	for i := range d.levels {
		d.levels[i] = 0
	}
	if len(raw) == 0 || raw[0] {
		for k := 1; k <= 10; k++ {
			ts := start.Add(time.Duration(k) * 30 * time.Second).UnixMilli()
			d.batch = d.batch[:0]
			for i, l := range d.raw {
				v := d.value(i, d.step) - float64(d.r.IntN(1<<20))
				d.levels[i] = max(d.levels[i], v)
				d.batch = append(d.batch, collect.Sample{Labels: l, T: ts, V: v})
			}
			for j := range d.faults {
				d.counters[j] += 30 * float64(1+d.r.IntN(3))
				d.counters[len(d.faults)+j] += 30 * float64(1<<20+d.r.IntN(1<<20))
				d.batch = append(d.batch, collect.Sample{Labels: d.faults[j], T: ts, V: d.counters[j]},
					collect.Sample{Labels: d.disk[j], T: ts, V: d.counters[len(d.faults)+j]})
			}
			d.append(b)
		}
	}
	d.batch = d.batch[:0]
	for i, l := range d.agg {
		v := d.levels[i]
		if v == 0 {
			v = d.value(i, d.step)
		}
		d.batch = append(d.batch, collect.Sample{Labels: l, T: d.now.UnixMilli(), V: v})
	}
	d.append(b)
	d.step++
}

// value is container i's working set in window s: a level per container,
// a page-sized jitter up to 1 MiB, +10 MiB a window on one in ten.
func (d *rulesData) value(i, s int) float64 {
	v := float64(200<<20+(i%37)<<22) + float64(d.r.IntN(1<<20))
	if i%d.leakyEach == 0 {
		v += float64(s) * float64(10<<20) // +120 MiB/h
	}
	return v
}

func (d *rulesData) append(b *testing.B) {
	if _, err := d.db.Append(context.Background(), d.batch); err != nil {
		b.Fatal(err)
	}
}

package detect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

// BenchmarkHistoryRules14d: one full pass of the history rules (leaks over
// 14 days of 5-minute aggregates, exhaustion, thrashing) for N containers
// on N/30 nodes, one container in ten leaking. Reports the pass's wall time
// and the heap it allocates; the store is built once per N.
func BenchmarkHistoryRules14d(b *testing.B) {
	for _, n := range []int{1000, 3000} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			db, st, now := rulesStore(b, n)
			rules := DefaultHistoryRules()
			rules.LeakWindow = 14 * 24 * time.Hour
			r := NewHistory(rules, db, st)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			var found int
			for range b.N {
				f, err := r.Evaluate(context.Background(), now)
				if err != nil {
					b.Fatal(err)
				}
				found = len(f)
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "MiB-alloc/pass")
			b.ReportMetric(float64(found), "findings")
		})
	}
}

func rulesStore(b *testing.B, n int) (*history.DB, state, time.Time) {
	b.Helper()
	db, err := history.Open(b.TempDir(), history.Options{Retention: 30 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	var st state
	nodes := max(n/30, 1)
	for i := range nodes {
		st.nodes = append(st.nodes, cluster.Node{Name: fmt.Sprintf("node-%04d", i), AllocatableMemory: 64 << 30})
	}
	series := make([]labels.Labels, n)
	for i := range series {
		ns, pod, node := fmt.Sprintf("ns-%d", i%20), fmt.Sprintf("app-%d-x%05d", i%50, i), fmt.Sprintf("node-%04d", i%nodes)
		series[i] = labels.FromStrings("__name__", history.Aggregates[0].Name, "container", "app", "namespace", ns, "node", node, "pod", pod)
		st.pods = append(st.pods, &cluster.Pod{Namespace: ns, Name: pod, NodeName: node, Owner: cluster.Owner{Kind: "Deployment", Name: fmt.Sprintf("app-%d", i%50)},
			Containers: []cluster.Container{{Name: "app"}}})
	}
	r := rand.New(rand.NewPCG(7, 8))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	steps := 14 * 24 * 12
	batch := make([]collect.Sample, len(series))
	for s := range steps {
		ts := start.Add(time.Duration(s) * 5 * time.Minute).UnixMilli()
		for i, l := range series {
			v := float64(200<<20+(i%37)<<22) + float64(r.IntN(1<<20))
			if i%10 == 0 {
				v += float64(s) * float64(10<<20) // +120 MiB/h
			}
			batch[i] = collect.Sample{Labels: l, T: ts, V: v}
		}
		if _, err := db.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	// Compact now, so the store's own background compaction of the fresh
	// head does not run inside the timed passes.
	if err := db.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db, st, start.Add(time.Duration(steps-1) * 5 * time.Minute)
}

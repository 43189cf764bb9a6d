package recommend

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

// week is a store holding 7 days of containers scraped every 30 s
// (NODEWATCH_BENCH_CONTAINERS, default 200, in 10 namespaces): working set,
// CPU and OOM counters, memory limit, and the 5-minute aggregates the 5m
// resolution reads, written by the daemon's downsampler (a day at a time,
// as it catches up), sparse counters included; a restart a day and an OOM
// kill every other day per container. Built once per benchmark binary.
var week struct {
	once       sync.Once
	db         *history.DB
	dir        string
	end        time.Time
	containers int
	err        error
}

// TestMain removes the benchmarks' store.
func TestMain(m *testing.M) {
	code := m.Run()
	if week.db != nil {
		_ = week.db.Close()
	}
	if week.dir != "" {
		_ = os.RemoveAll(week.dir)
	}
	os.Exit(code)
}

func weekStore(b *testing.B) (*history.DB, time.Time) {
	b.Helper()
	w := &week
	w.once.Do(func() {
		w.containers = 200
		if v := os.Getenv("NODEWATCH_BENCH_CONTAINERS"); v != "" {
			if w.containers, w.err = strconv.Atoi(v); w.err != nil {
				return
			}
		}
		if w.dir, w.err = os.MkdirTemp("", "nodewatch-recommend-7d-"); w.err != nil {
			return
		}
		if w.db, w.err = history.Open(w.dir, history.Options{}); w.err != nil {
			return
		}
		type series struct{ mem, cpu, oom, limit labels.Labels }
		ss := make([]series, w.containers)
		for i := range ss {
			l := func(name string) labels.Labels {
				return labels.FromStrings("__name__", name, "namespace", fmt.Sprintf("ns-%d", i%10), "pod", fmt.Sprintf("app-%d-%05d", i%10, i),
					"container", "app", "node", fmt.Sprintf("node-%03d", i%100), "workload_kind", "Deployment", "workload", fmt.Sprintf("app-%d", i%10))
			}
			ss[i] = series{l("container_memory_working_set_bytes"), l("container_cpu_usage_seconds_total"), l("container_oom_events_total"),
				l("container_spec_memory_limit_bytes")}
		}
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		const steps = 7 * 24 * 120
		const perDay = 24 * 120
		batch := make([]collect.Sample, 0, 4*len(ss))
		for n := range steps + 1 {
			t := start.Add(time.Duration(n) * 30 * time.Second).UnixMilli()
			batch = batch[:0]
			for i, s := range ss {
				phase := (n + i*37) % perDay // restart once a day, each container at its own time
				mem := float64(200<<20 + (i%17)<<20 + phase<<10 + (n*7919%97)<<14)
				batch = append(batch,
					collect.Sample{Labels: s.mem, T: t, V: mem},
					collect.Sample{Labels: s.cpu, T: t, V: float64(phase) * 3},
					collect.Sample{Labels: s.oom, T: t, V: float64((n + i*37) / (2 * perDay))},
					collect.Sample{Labels: s.limit, T: t, V: 1 << 30})
			}
			if _, err := w.db.Append(context.Background(), batch); err != nil {
				w.err = err
				return
			}
			if n%perDay == 0 && n > 0 || n == steps {
				if _, w.err = w.db.Downsample(context.Background(), time.UnixMilli(t)); w.err != nil {
					return
				}
			}
		}
		w.end = start.Add(steps * 30 * time.Second).Add(-time.Minute)
		w.err = w.db.Compact(context.Background())
	})
	if w.err != nil {
		b.Fatal(w.err)
	}
	return w.db, w.end
}

// BenchmarkReadHistory: readHistory on the embedded store, read directly
// and through PromQL (promQLOnly), one namespace at a time as the
// dashboard reads every namespace: 3 hours of raw samples (what
// BenchmarkPages1000Nodes/recommendations reads), and 7 days at the 5m
// resolution (the recommendations page's default range: 5-minute
// aggregates, the sparse ones for the restarts and OOM kills); and the whole report (direct+sizing), read directly and sized as
// the dashboard computes it. Reports ms per container.
func BenchmarkReadHistory(b *testing.B) {
	db, end := weekStore(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		since      time.Duration
		resolution string
	}{
		{"raw-3h", 3 * time.Hour, ResolutionRaw},
		{"5m-7d", 7*24*time.Hour - time.Hour, Resolution5m},
	} {
		for _, way := range []struct {
			name string
			h    History
		}{{"direct", db}, {"promql", promQLOnly{db}}} {
			b.Run(tc.name+"/"+way.name, func(b *testing.B) {
				b.ReportAllocs()
				var lat []time.Duration
				for range b.N {
					t0 := time.Now()
					n, restarts := 0, 0
					for ns := range 10 {
						q := historyQuery{namespace: fmt.Sprintf("ns-%d", ns), now: end, since: tc.since, resolution: tc.resolution}
						h, err := readHistory(ctx, way.h, q)
						if err != nil {
							b.Fatal(err)
						}
						n += len(h)
						for _, c := range h {
							restarts += len(c.restarts)
						}
					}
					lat = append(lat, time.Since(t0))
					if n != week.containers || (tc.resolution == Resolution5m && restarts < week.containers*5) {
						b.Fatalf("%d containers read, %d restarts; want %d containers restarted daily", n, restarts, week.containers)
					}
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000/float64(week.containers), "ms/container")
			})
		}
		// The whole report, read directly and sized, one namespace at a
		// time as the dashboard computes it.
		b.Run(tc.name+"/direct+sizing", func(b *testing.B) {
			b.ReportAllocs()
			snaps := weekSnapshots()
			def := rightsize.DefaultOptions()
			sizing, err := Sizing(def.MinSpan, def.MinSamples, false)
			if err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			for range b.N {
				t0 := time.Now()
				sized := 0
				for ns, snap := range snaps {
					r, err := Recommend(ctx, db, snap, Options{Namespace: fmt.Sprintf("ns-%d", ns), Now: end, Since: tc.since, Resolution: tc.resolution, Sizing: sizing})
					if err != nil {
						b.Fatal(err)
					}
					for _, w := range r.Workloads {
						for _, c := range w.Containers {
							if c.Status != StatusNoData {
								sized++
							}
						}
					}
				}
				lat = append(lat, time.Since(t0))
				if sized != len(snaps) {
					b.Fatalf("%d workloads sized, want %d", sized, len(snaps))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000/float64(week.containers), "ms/container")
		})
	}
}

// weekSnapshots are the live pods of weekStore's containers, one snapshot
// per namespace: each namespace's pods are one Deployment's.
func weekSnapshots() []*cluster.Snapshot {
	out := make([]*cluster.Snapshot, 10)
	for ns := range out {
		out[ns] = cluster.NewSnapshot()
		out[ns].Owners.Add("ReplicaSet", fmt.Sprintf("ns-%d", ns), fmt.Sprintf("app-%d-7d9f", ns), cluster.Owner{Kind: "Deployment", Name: fmt.Sprintf("app-%d", ns)})
	}
	for i := range week.containers {
		ns := i % 10
		out[ns].Pods = append(out[ns].Pods, cluster.Pod{Namespace: fmt.Sprintf("ns-%d", ns), Name: fmt.Sprintf("app-%d-%05d", ns, i),
			Owner: cluster.Owner{Kind: "ReplicaSet", Name: fmt.Sprintf("app-%d-7d9f", ns)}, TemplateHash: "7d9f", Phase: "Running",
			Containers: []cluster.Container{{Name: "app"}}})
	}
	return out
}

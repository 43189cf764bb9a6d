package history

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// BenchmarkDownsample: the daemon's downsampling of one 5-minute window of
// 1,000 containers (working set, CPU and OOM counters at 30 s, a restart
// and an OOM kill on one container in a hundred), every aggregate of
// Aggregates; reports ms per window.
func BenchmarkDownsample(b *testing.B) {
	db, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	mem := containers(1000)
	cpu, ooms := make([]labels.Labels, len(mem)), make([]labels.Labels, len(mem))
	for i, l := range mem {
		cpu[i] = labels.NewBuilder(l).Set(model.MetricNameLabel, "container_cpu_usage_seconds_total").Labels()
		ooms[i] = labels.NewBuilder(l).Set(model.MetricNameLabel, "container_oom_events_total").Labels()
	}
	r := rand.New(rand.NewPCG(7, 8))
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	const steps = 2 * 120 // 2 hours: 24 windows
	batch := make([]collect.Sample, 0, 3*len(mem))
	for n := range steps + 1 {
		ts := start.Add(time.Duration(n) * 30 * time.Second).UnixMilli()
		batch = batch[:0]
		for i := range mem {
			c, o := float64(n)*0.5, float64(0)
			if i%100 == 0 && n >= 100 {
				c, o = float64(n-100)*0.5, 1
			}
			batch = append(batch, collect.Sample{Labels: mem[i], T: ts, V: usage(r, i, n)},
				collect.Sample{Labels: cpu[i], T: ts, V: c}, collect.Sample{Labels: ooms[i], T: ts, V: o})
		}
		if _, err := db.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	end := start.Add(steps * 30 * time.Second)
	// The day before the data holds no samples: start from its first window.
	db.lastWindow = start
	b.ResetTimer()
	windows := 0
	for range b.N {
		if db.lastWindow.Add(Window).After(end) {
			b.StopTimer()
			db.lastWindow = start // downsample the same windows again, as new ones (samples already stored are dropped)
			b.StartTimer()
		}
		n, err := db.Downsample(context.Background(), db.lastWindow.Add(Window))
		if err != nil {
			b.Fatal(err)
		}
		windows += n
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(windows), "ms/window")
}

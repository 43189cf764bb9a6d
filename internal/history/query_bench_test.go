package history

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// fourteenDays is a store holding 14 days of 1,000 containers scraped every
// 30 s (40.3 M samples), compacted as Prometheus would, with the 5-minute
// aggregates Downsample writes (computed here directly, to keep the setup
// short). Built once per benchmark binary, in a temporary directory.
var fourteenDays struct {
	once    sync.Once
	dir     string
	end     time.Time
	samples float64
	err     error
}

func fourteenDayStore(b *testing.B) (*DB, time.Time) {
	b.Helper()
	f := &fourteenDays
	f.once.Do(func() {
		f.dir, f.err = os.MkdirTemp("", "nodewatch-history-14d-")
		if f.err != nil {
			return
		}
		db, err := Open(f.dir, Options{Retention: 30 * 24 * time.Hour})
		if err != nil {
			f.err = err
			return
		}
		series := containers(1000)
		aggMax := make([]labels.Labels, len(series))
		aggAvg := make([]labels.Labels, len(series))
		for i, l := range series {
			aggMax[i] = labels.NewBuilder(l).Set(model.MetricNameLabel, Aggregates[0].Name).Labels()
			aggAvg[i] = labels.NewBuilder(l).Set(model.MetricNameLabel, Aggregates[1].Name).Labels()
		}
		r := rand.New(rand.NewPCG(5, 6))
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		steps := 14 * 24 * 120
		maxes, sums := make([]float64, len(series)), make([]float64, len(series))
		batch := make([]collect.Sample, 0, 3*len(series))
		for n := range steps {
			ts := start.Add(time.Duration(n) * 30 * time.Second)
			batch = batch[:0]
			for i, l := range series {
				v := usage(r, i, n%2880) // the leak restarts daily
				batch = append(batch, collect.Sample{Labels: l, T: ts.UnixMilli(), V: v})
				maxes[i], sums[i] = max(maxes[i], v), sums[i]+v
			}
			if (n+1)%10 == 0 { // a 5-minute window ends
				for i := range series {
					batch = append(batch, collect.Sample{Labels: aggMax[i], T: ts.UnixMilli(), V: maxes[i]},
						collect.Sample{Labels: aggAvg[i], T: ts.UnixMilli(), V: storedValue(Aggregates[1].Name, sums[i]/10)})
					maxes[i], sums[i] = 0, 0
				}
			}
			if _, err := db.Append(context.Background(), batch); err != nil {
				f.err = err
				return
			}
			if (n+1)%(120*6) == 0 { // every 6 h, let the head compact
				if err := db.tsdb.Compact(context.Background()); err != nil {
					f.err = err
					return
				}
			}
		}
		f.end = start.Add(time.Duration(steps-1) * 30 * time.Second)
		if err := db.tsdb.Compact(context.Background()); err != nil {
			f.err = err
			return
		}
		f.samples = float64(steps*len(series)) * (1 + 2.0/10) // raw, plus two aggregates every 10 steps
		f.err = db.Close()
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	db, err := Open(f.dir, Options{Retention: 30 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db, f.end
}

// BenchmarkQuery14d: the query — max_over_time over 14 days for
// 1,000 containers — on the raw samples and on the 5-minute aggregates, as
// an instant query and as a range query (hourly maxima over 14 days, what a
// chart draws). Reports p50 and p99 latency over the iterations.
func BenchmarkQuery14d(b *testing.B) {
	cases := []struct {
		name, q string
		rng     bool
	}{
		{"raw/instant", `max_over_time(container_memory_working_set_bytes[14d])`, false},
		{"max5m/instant", `max_over_time(nodewatch:container_memory_working_set_bytes:max5m[14d])`, false},
		{"raw/range-1h-steps", `max_over_time(container_memory_working_set_bytes[1h])`, true},
		{"max5m/range-1h-steps", `max_over_time(nodewatch:container_memory_working_set_bytes:max5m[1h])`, true},
	}
	b.Run("bytes-per-sample", func(b *testing.B) {
		// The store on disk after Prometheus' own compaction of 14 days
		// (2 h blocks merged into larger ones), per sample stored.
		_, _ = fourteenDayStore(b)
		var size int64
		_ = filepath.Walk(filepath.Join(fourteenDays.dir, "tsdb"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && !strings.Contains(p, "wal") && !strings.Contains(p, "chunks_head") {
				size += fi.Size()
			}
			return nil
		})
		for range b.N {
		}
		b.ReportMetric(float64(size)/fourteenDays.samples, "B/sample")
		// What the disk costs per sample scraped, the aggregates included.
		b.ReportMetric(float64(size)/(fourteenDays.samples/1.2), "B/scraped-sample")
		b.ReportMetric(fourteenDays.samples, "samples")
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			db, end := fourteenDayStore(b)
			ctx := context.Background()
			var lat []time.Duration
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				var v parser.Value
				var err error
				if tc.rng {
					v, err = db.QueryRange(ctx, tc.q, end.Add(-14*24*time.Hour), end, time.Hour)
				} else {
					v, err = db.Query(ctx, tc.q, end)
				}
				lat = append(lat, time.Since(t))
				if err != nil {
					b.Fatal(err)
				}
				if n := seriesIn(v); n != 1000 {
					b.Fatalf("%d series in the result, want 1000", n)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Milliseconds()), "p99-ms")
		})
	}
}

func seriesIn(v parser.Value) int {
	switch v := v.(type) {
	case promql.Vector:
		return len(v)
	case promql.Matrix:
		return len(v)
	}
	return -1
}

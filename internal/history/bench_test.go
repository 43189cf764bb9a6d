package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// containers are 1,000 containers on 100 nodes, labelled as the scraper
// labels them.
func containers(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings("__name__", "container_memory_working_set_bytes",
			"container", "app", "namespace", fmt.Sprintf("ns-%d", i%20), "node", fmt.Sprintf("node-%03d", i%100),
			"pod", fmt.Sprintf("app-%d-7d9f8b6c4d-x%04d", i%50, i), "workload", fmt.Sprintf("app-%d", i%50), "workload_kind", "Deployment")
	}
	return out
}

// usage is a realistic working set: a per-container level with page-sized
// jitter, a slow leak on one container in ten.
func usage(r *rand.Rand, i, step int) float64 {
	base := float64(64<<20 + (i%37)<<22)
	v := base + float64(r.IntN(64))*4096
	if i%10 == 0 {
		v += float64(step * 256 << 10)
	}
	return v
}

// BenchmarkAppend: one 30 s scrape of 1,000 containers per op.
func BenchmarkAppend(b *testing.B) {
	db, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	series := containers(1000)
	r := rand.New(rand.NewPCG(1, 2))
	batch := make([]collect.Sample, len(series))
	start := time.Now()
	b.ResetTimer()
	for n := range b.N {
		ts := start.Add(time.Duration(n) * 30 * time.Second).UnixMilli()
		for i, l := range series {
			batch[i] = collect.Sample{Labels: l, T: ts, V: usage(r, i, n)}
		}
		if _, err := db.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(series))/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkBytesPerSample: 1,000 containers × 6 h at 30 s, compacted into a
// block; reports the block's size on disk per sample.
func BenchmarkBytesPerSample(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		db, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		series := containers(1000)
		r := rand.New(rand.NewPCG(3, 4))
		start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
		steps := 6 * 60 * 2
		batch := make([]collect.Sample, len(series))
		for n := range steps {
			ts := start.Add(time.Duration(n) * 30 * time.Second).UnixMilli()
			for i, l := range series {
				batch[i] = collect.Sample{Labels: l, T: ts, V: usage(r, i, n)}
			}
			if _, err := db.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		head := db.tsdb.Head()
		if err := db.tsdb.CompactHead(tsdb.NewRangeHead(head, head.MinTime(), head.MaxTime())); err != nil {
			b.Fatal(err)
		}
		var size int64
		blocks, _ := filepath.Glob(filepath.Join(dir, "tsdb", "01*"))
		for _, blk := range blocks {
			_ = filepath.Walk(blk, func(_ string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					size += fi.Size()
				}
				return nil
			})
		}
		samples := float64(steps * len(series))
		b.ReportMetric(float64(size)/samples, "B/sample")
		b.ReportMetric(samples, "samples")
		_ = db.Close()
	}
}

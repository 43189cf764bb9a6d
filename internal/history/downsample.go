package history

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// Window is the span of one downsampled aggregate.
const Window = 5 * time.Minute

// Aggregate is one downsampled series: Name holds Expr evaluated over each
// Window, stored at the window's end with the source series' labels. The
// names follow Prometheus' recording-rule convention (level:metric:ops), so
// an analysis over weeks reads 1 point per 5 minutes per series instead of
// 10: `nodewatch:container_memory_working_set_bytes:max5m[14d]`.
//
// A Sparse aggregate is stored only where its value is above 0: the windows
// in which a container restarted or was OOM-killed, a handful a week, so a
// container that never does gets no series of it (each head series costs
// its own memory). An absent sample means 0 only from the first window
// with a SparseMarker sample on, and only at the windows that have one:
// stores written by older versions, and any Prometheus, have none, and a
// reader computes those windows from the raw counters.
type Aggregate struct {
	Name, Expr string
	Sparse     bool
}

// Aggregates are what Downsample writes.
var Aggregates = []Aggregate{
	{"nodewatch:container_memory_working_set_bytes:max5m", `max_over_time(container_memory_working_set_bytes{container!=""}[5m])`, false},
	{"nodewatch:container_memory_working_set_bytes:avg5m", `avg_over_time(container_memory_working_set_bytes{container!=""}[5m])`, false},
	{"nodewatch:container_cpu_usage:rate5m", `rate(container_cpu_usage_seconds_total{container!=""}[5m])`, false},
	{"nodewatch:node_memory_working_set_bytes:max5m", `max_over_time(node_memory_working_set_bytes[5m])`, false},
	{"nodewatch:node_major_page_faults:rate5m", `rate(container_memory_failures_total{failure_type="pgmajfault",id="/",scope="hierarchy"}[5m])`, false},
	{"nodewatch:container_cpu_usage:resets5m", `resets(container_cpu_usage_seconds_total{container!=""}[5m])`, true},
	{"nodewatch:container_oom_events:increase5m", `increase(container_oom_events_total{container!=""}[5m])`, true},
}

// SparseMarker is one series, 1 at the end of every window for which
// Downsample computed the Sparse aggregates: there, a container without a
// sample of them had none to store (0).
const SparseMarker = "nodewatch:downsample_sparse_counters"

// maxCatchUp bounds the windows one Downsample call computes after a long
// stop: a day of them.
const maxCatchUp = 24 * time.Hour / Window

// Downsample writes the aggregates of every complete window after the last
// one already stored, up to now (at most a day's worth per call), and
// returns how many windows it wrote. It is idempotent: windows already
// stored are skipped, so it can run after every scrape.
func (db *DB) Downsample(ctx context.Context, now time.Time) (int, error) {
	end := now.Truncate(Window)
	if db.lastWindow.IsZero() {
		last, err := db.lastAggregate(ctx, now)
		if err != nil {
			return 0, err
		}
		db.lastWindow = last
	}
	start := db.lastWindow.Add(Window)
	if db.lastWindow.IsZero() || end.Sub(start) > maxCatchUp*Window {
		start = end.Add(-(maxCatchUp - 1) * Window)
	}
	n := 0
	for w := start; !w.After(end); w = w.Add(Window) {
		var batch []collect.Sample
		for _, a := range Aggregates {
			v, err := db.Query(ctx, a.Expr, w)
			if err != nil {
				return n, fmt.Errorf("downsampling %s at %s: %w", a.Name, w.Format(time.RFC3339), err)
			}
			vec, _ := v.(promql.Vector)
			for _, s := range vec {
				if a.Sparse && !(s.F > 0) {
					continue
				}
				b := labels.NewBuilder(s.Metric)
				b.Set(model.MetricNameLabel, a.Name)
				batch = append(batch, collect.Sample{Labels: b.Labels(), T: w.UnixMilli(), V: storedValue(a.Name, s.F)})
			}
		}
		batch = append(batch, collect.Sample{Labels: labels.FromStrings(model.MetricNameLabel, SparseMarker), T: w.UnixMilli(), V: 1})
		if _, err := db.Append(ctx, batch); err != nil {
			return n, err
		}
		db.lastWindow = w
		n++
	}
	return n, nil
}

// page is the kernel's unit of memory: working sets are counted in pages.
const page = 4096

// storedValue is an aggregate's value as stored: an average of byte counts
// is rounded to whole pages, which the TSDB's XOR encoding packs in a few
// bits where a fraction of a byte takes most of the mantissa.
func storedValue(name string, v float64) float64 {
	if strings.HasSuffix(name, "_bytes:avg5m") {
		return math.Round(v/page) * page
	}
	return v
}

// lastAggregate is the newest window stored (zero if none in the last day).
func (db *DB) lastAggregate(ctx context.Context, now time.Time) (time.Time, error) {
	q := fmt.Sprintf(`max(max_over_time(timestamp({__name__=%q})[1d:5m]))`, Aggregates[0].Name)
	v, err := db.Query(ctx, q, now)
	if err != nil {
		return time.Time{}, err
	}
	vec, _ := v.(promql.Vector)
	if len(vec) == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(int64(vec[0].F * 1000)).Truncate(Window), nil
}

package recommend

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/history"
)

// sparseAggregates are the daemon's sparse aggregates of the counters the
// 5m resolution reads restarts and OOM kills from (history.Aggregates):
// the value of resets(…[5m]) or increase(…[5m]) at the windows where it
// is above 0.
var sparseAggregates = map[string]string{
	"container_cpu_usage_seconds_total": "nodewatch:container_cpu_usage:resets5m",
	"container_oom_events_total":        "nodewatch:container_oom_events:increase5m",
}

// readWindows calls fn as source.windows does for the steps of windowsOf(q),
// once per series in label order, with its steps in time order. The steps
// the daemon computed the sparse aggregates for (those with a
// history.SparseMarker sample) are read from the aggregate, where an absent
// sample is a window without a reset or a rise; the others — all of them
// on a Prometheus or a store written before the aggregates, the newest
// window(s) if the daemon has not computed them yet — from the raw
// counter, which is what a week of history spends its time decoding.
func readWindows(ctx context.Context, src source, q historyQuery, metric string, rose bool, fn func(labels.Labels, []time.Time)) error {
	w := windowsOf(q)
	start, end, step := timestamp.FromTime(w.start), timestamp.FromTime(w.end), w.step.Milliseconds()
	if start > end {
		return nil
	}
	covered := map[int64]bool{}
	// The daemon's windows end on multiples of history.Window, as do steps
	// of a multiple of it (both truncate from the same origin).
	if w.step%history.Window == 0 {
		ts, err := src.marks(ctx, history.SparseMarker)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t >= start && t <= end && (t-start)%step == 0 {
				covered[t] = true
			}
		}
	}
	type hit struct {
		l  labels.Labels
		ts []time.Time
	}
	var hits []hit
	keep := func(l labels.Labels, ts []time.Time) {
		hits = append(hits, hit{labels.NewBuilder(l).Del(model.MetricNameLabel).Labels(), ts})
	}
	// The runs of steps not covered, each read from the raw counter.
	for t := start; t <= end; t += step {
		if covered[t] {
			continue
		}
		from := t
		for t+step <= end && !covered[t+step] {
			t += step
		}
		run := steps{start: time.UnixMilli(from), end: time.UnixMilli(t), step: w.step}
		if err := src.windows(ctx, metric, rose, run, keep); err != nil {
			return err
		}
	}
	if len(covered) > 0 {
		if _, err := src.samples(ctx, sparseAggregates[metric], func(l labels.Labels, ps []promql.FPoint) {
			var ts []time.Time
			for _, p := range ps {
				if p.F > 0 && covered[p.T] {
					ts = append(ts, time.UnixMilli(p.T))
				}
			}
			if len(ts) > 0 {
				keep(l, ts)
			}
		}); err != nil {
			return err
		}
	}
	// One call per series, as a single read gives them: a series' hits
	// come from the runs in time order, then from the aggregate, so its
	// steps are merged in order by a stable sort.
	slices.SortStableFunc(hits, func(a, b hit) int { return labels.Compare(a.l, b.l) })
	for i := 0; i < len(hits); {
		j, ts := i+1, hits[i].ts
		for ; j < len(hits) && labels.Equal(hits[j].l, hits[i].l); j++ {
			ts = append(ts, hits[j].ts...)
		}
		slices.SortFunc(ts, time.Time.Compare)
		fn(hits[i].l, ts)
		i = j
	}
	return nil
}

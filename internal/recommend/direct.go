package recommend

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// seriesReader is a history whose series can be read directly, without
// PromQL: the embedded store (history.DB), as the history rules read it
// (internal/detect). The recommendations for every namespace of a large
// cluster read every sample of every container; decoded straight from the
// chunks they skip the engine's evaluation and the copies of its results.
type seriesReader interface {
	Queryable() storage.Queryable
}

// directSource reads the series through the TSDB's querier, as PromQL
// would select them (promQLSource's queries, computed here).
type directSource struct {
	db storage.Queryable
	q  historyQuery
	// matchers select the containers in scope (the metric name is added
	// per read).
	matchers []*labels.Matcher
	// mint, maxt: the range selector of q.since at q.now, (mint, maxt] in
	// Unix ms, whole seconds as promQLSource writes it.
	mint, maxt int64
	it         chunkenc.Iterator
	buf        []promql.FPoint
}

var _ source = (*directSource)(nil)

func newDirectSource(db storage.Queryable, q historyQuery) *directSource {
	ms := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchNotEqual, "container", ""),
		labels.MustNewMatcher(labels.MatchNotEqual, "container", "POD"),
	}
	if q.namespace != "" {
		ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, "namespace", q.namespace))
	}
	maxt := timestamp.FromTime(q.now)
	return &directSource{db: db, q: q, matchers: ms, maxt: maxt, mint: maxt - int64(q.since.Seconds())*1000}
}

func (d *directSource) samples(ctx context.Context, metric string, fn func(labels.Labels, []promql.FPoint)) (int, error) {
	return d.each(ctx, metric, d.mint, d.maxt, false, nil, fn)
}

func (d *directSource) windows(ctx context.Context, metric string, rose bool, w steps, fn func(labels.Labels, []time.Time)) error {
	start, end, step := timestamp.FromTime(w.start), timestamp.FromTime(w.end), w.step.Milliseconds()
	if start > end {
		return nil
	}
	width := (5 * time.Minute).Milliseconds()
	_, err := d.each(ctx, metric, start-width, end, false, nil, func(l labels.Labels, ps []promql.FPoint) {
		if ts := windowHits(ps, start, end, step, width, rose); len(ts) > 0 {
			fn(l, ts)
		}
	})
	return err
}

func (d *directSource) marks(ctx context.Context, metric string) ([]int64, error) {
	var out []int64
	// The marker has no container label: none of the scope's matchers.
	_, err := d.scan(ctx, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, metric)}, d.mint, d.maxt, false, nil,
		func(_ labels.Labels, ps []promql.FPoint) {
			for _, p := range ps {
				out = append(out, p.T)
			}
		})
	return out, err
}

// recent is how far back last looks first: a live container's newest
// sample is within a few scrapes of now.
const recent = 10 * time.Minute

// last reads the series' last minutes first and the whole range only for
// the series without a sample there (pods gone): a series' newest sample
// in the range is its newest in any suffix of the range that holds one,
// and decoding a week of limits to keep one value was a quarter of the
// 5m resolution's read.
func (d *directSource) last(ctx context.Context, metric string, fn func(labels.Labels, float64)) error {
	type result struct {
		l  labels.Labels
		v  float64
		ok bool // the newest sample is a float
	}
	var out []result
	found := map[uint64][]labels.Labels{} // by hash, for the skip
	seen := func(l labels.Labels) bool {
		return slices.ContainsFunc(found[l.Hash()], func(x labels.Labels) bool { return labels.Equal(x, l) })
	}
	keep := func(l labels.Labels, ps []promql.FPoint) {
		r := result{l: l, ok: len(ps) > 0}
		if r.ok {
			r.v = ps[0].F
		}
		out = append(out, r)
		found[l.Hash()] = append(found[l.Hash()], l)
	}
	if from := d.maxt - recent.Milliseconds(); from > d.mint {
		if _, err := d.each(ctx, metric, from, d.maxt, true, nil, keep); err != nil {
			return err
		}
	}
	if _, err := d.each(ctx, metric, d.mint, d.maxt, true, seen, keep); err != nil {
		return err
	}
	slices.SortFunc(out, func(a, b result) int { return labels.Compare(a.l, b.l) })
	for _, r := range out {
		if r.ok {
			fn(r.l, r.v)
		}
	}
	return nil
}

// each calls fn with every series of metric in scope that has a sample in
// (mint, maxt], in label order, and its float samples there but for
// staleness markers, as PromQL's range selectors read them (a series of
// native histograms comes with no floats, as in a query's result). With
// last, fn gets the newest sample only, and none when that is a histogram
// (last_over_time's). Series skip says yes to are passed over unread.
func (d *directSource) each(ctx context.Context, metric string, mint, maxt int64, last bool, skip func(labels.Labels) bool,
	fn func(labels.Labels, []promql.FPoint),
) (int, error) {
	ms := append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, metric)}, d.matchers...)
	return d.scan(ctx, ms, mint, maxt, last, skip, fn)
}

// scan is each for the series ms select.
func (d *directSource) scan(ctx context.Context, ms []*labels.Matcher, mint, maxt int64, last bool, skip func(labels.Labels) bool,
	fn func(labels.Labels, []promql.FPoint),
) (int, error) {
	q, err := d.db.Querier(mint+1, maxt)
	if err != nil {
		return 0, err
	}
	defer func() { _ = q.Close() }() // a querier only reads: its close error loses nothing
	set := q.Select(ctx, true, &storage.SelectHints{Start: mint + 1, End: maxt}, ms...)
	n := 0
	for set.Next() {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		s := set.At()
		if skip != nil && skip(s.Labels()) {
			continue
		}
		d.it = s.Iterator(d.it)
		d.buf = d.buf[:0]
		found := false
		for vt := d.it.Seek(mint + 1); vt != chunkenc.ValNone; vt = d.it.Next() {
			if d.it.AtT() > maxt {
				break
			}
			if vt != chunkenc.ValFloat {
				if _, h := d.it.AtFloatHistogram(nil); !value.IsStaleNaN(h.Sum) {
					found = true
					if last {
						d.buf = d.buf[:0]
					}
				}
				continue
			}
			t, v := d.it.At()
			if value.IsStaleNaN(v) {
				continue
			}
			found = true
			if last {
				d.buf = d.buf[:0]
			}
			d.buf = append(d.buf, promql.FPoint{T: t, F: v})
		}
		if err := d.it.Err(); err != nil {
			return n, err
		}
		if found {
			n++
			fn(s.Labels(), d.buf)
		}
	}
	return n, set.Err()
}

// windowHits returns the steps start, start+step, … end at which the
// samples of the width up to the step (T in (step-width, step]) reset —
// PromQL's resets(…) > 0 — or, with rose, rose: increase(…) > 0, which is
// (last − first + the value before each reset) over at least two samples,
// extrapolated by a factor of at least 1 that leaves its sign as it is.
func windowHits(ps []promql.FPoint, start, end, step, width int64, rose bool) []time.Time {
	var out []time.Time
	lo := 0
	for ts := start; ts <= end && lo < len(ps); ts += step {
		for lo < len(ps) && ps[lo].T <= ts-width {
			lo++
		}
		hi := lo
		for hi < len(ps) && ps[hi].T <= ts {
			hi++
		}
		if w := ps[lo:hi]; (rose && rises(w)) || (!rose && resets(w)) {
			out = append(out, time.UnixMilli(ts))
		}
	}
	return out
}

// resets says whether a counter went backwards among the samples.
func resets(ps []promql.FPoint) bool {
	for i := 1; i < len(ps); i++ {
		if ps[i].F < ps[i-1].F {
			return true
		}
	}
	return false
}

// rises says whether increase() over the samples is positive, summing as
// Prometheus does (the same rounding).
func rises(ps []promql.FPoint) bool {
	if len(ps) < 2 {
		return false
	}
	r := ps[len(ps)-1].F - ps[0].F
	for i := 1; i < len(ps); i++ {
		if ps[i].F < ps[i-1].F {
			r += ps[i-1].F
		}
	}
	return r > 0
}

package detect

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/history"
)

// How the leak rule reads the working sets.
//
// The points it judges: under an hour of window, the raw samples; from an
// hour, the 5-minute maxima Downsample writes; from two days, their maxima
// per whole hour (per n hours beyond 14 days: at most 336 points), as the
// fit pairs only 120 evenly spaced points anyway — a 14-day window is 336
// points to smooth and thin instead of 4,032. The buckets are aligned to
// the clock, each series' shifted by its own multiple of 5 minutes (from
// its labels' hash, so that a new bucket starts for a twelfth of the
// series at each 5-minute window, not for all at once), so they are the
// same whichever pass computes them; a series' window starts at the start
// of its oldest bucket. A bucket's point is at its end, also while it
// fills, so a sample that is not a new maximum changes nothing to judge
// again.
//
// A pass on the embedded store (history.DB) reads the series directly
// through the TSDB's querier, not through PromQL, in as many shards as
// there are CPUs, each judged by its own worker. Between passes it keeps
// each container's points and verdict: a pass reads only the points added
// since the one before (and the whole window of a series it does not know
// yet), drops the points the window has left behind, and judges again only
// the series whose points changed. Its findings are those of a pass that
// reads everything (TestIncrementalMatchesFull). What that cannot see —
// points written more than lateWrites after their time — each pass catches
// for a sixtieth of the series it knows, which it reads whole again: every
// series once an hour at a pass a minute, without a pass that reads
// everything.
// Series of pods that are gone, and series left without a point in the
// window, are forgotten.
//
// On any other store (history.Remote) every pass reads the window through
// PromQL and judges the same buckets, without a cache.

const (
	// bucketFrom is the window from which the 5-minute maxima are judged per
	// hour; maxBuckets bounds the hourly buckets of longer windows.
	bucketFrom = 2 * 24 * time.Hour
	maxBuckets = 14 * 24
	// lateWrites is how far behind its time a point may be written and
	// still be read by the next incremental pass (the 5-minute aggregates
	// are written a scrape after their window ends).
	lateWrites = 10 * time.Minute
	// resyncSlots: each incremental pass reads one in resyncSlots series
	// whole again.
	resyncSlots = 60
)

// leakBucket is the width of the leak rule's buckets for window (0: every
// point as it is).
func leakBucket(window time.Duration) time.Duration {
	if window <= bucketFrom {
		return 0
	}
	hours := (window + maxBuckets*time.Hour - 1) / (maxBuckets * time.Hour)
	return hours * time.Hour
}

// queryable is a history read directly (history.DB).
type queryable interface {
	Queryable() storage.Queryable
}

// leakScan finds the leaking containers, keeping what it read between
// passes. Its methods are called one pass at a time.
type leakScan struct {
	window, bucket time.Duration
	metric         string
	matchers       []*labels.Matcher
	opts           leak.Options
	points         int // the most points a series holds, where known

	shards  []*leakShard
	prevNow time.Time // the last pass's now; zero before the first
	passes  uint64
	// Stats of the last pass, for tests and benchmarks.
	full            bool
	judged, visited int
}

type leakShard struct {
	series map[uint64]*seriesPoints
	an     leak.Analyzer
	it     chunkenc.Iterator
	buf    []leak.Sample
	found  []growth
	judged int
	err    error
}

// seriesPoints is one container's points in the window: bucket maxima, or
// samples when the rule does not bucket.
type seriesPoints struct {
	lset           labels.Labels
	ns, pod, cname string
	t              []int64   // each bucket's end (each sample's time when not bucketed), Unix ms
	v              []float64 // each bucket's maximum
	lastT          int64     // the newest sample
	lastV          float64
	// phase shifts the series' buckets from the clock's hours by a
	// multiple of 5 minutes, one of the series' own (its labels' hash): a
	// new hour starts for a twelfth of the series at each 5-minute window,
	// not for all of them at once.
	phase   int64
	verdict leak.Verdict
	judged  bool // verdict is of t and v as they are
}

func newLeakScan(rules HistoryRules) *leakScan {
	s := &leakScan{window: rules.LeakWindow, bucket: leakBucket(rules.LeakWindow)}
	switch {
	case s.bucket > 0:
		s.points = int(s.window/s.bucket) + 2
	case rules.LeakWindow >= time.Hour:
		s.points = int(s.window/history.Window) + 2
	}
	if rules.LeakWindow >= time.Hour {
		s.metric = `nodewatch:container_memory_working_set_bytes:max5m`
		s.matchers = []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, s.metric)}
	} else {
		s.metric = `container_memory_working_set_bytes{container!="",container!="POD"}`
		s.matchers = []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "container_memory_working_set_bytes"),
			labels.MustNewMatcher(labels.MatchNotEqual, "container", ""),
			labels.MustNewMatcher(labels.MatchNotEqual, "container", "POD"),
		}
	}
	o := leak.DefaultOptions()
	// The spike filter is a rolling median: a window of an eighth of a short
	// leak window, at most the 40 minutes a spike lasts (wider costs time
	// and hides nothing more); on hourly buckets, five of them (a spike
	// raises one or two).
	o.MinSpan, o.SpikeWindow, o.MinSlope = rules.LeakWindow/2, min(rules.LeakWindow/8, 40*time.Minute), rules.LeakMinGrowth
	if s.bucket > 0 {
		o.SpikeWindow = 4 * s.bucket
		// The growth lately is judged on 3 buckets at least: the last third
		// of the 6 h after a restart is 2 hourly maxima.
		o.RecentMin = 3
	}
	o.MinPoints = 10
	o.MaxFit = 120 // a pass judges every container; 120 points of 14 days are one per 2.8 h
	s.opts = o
	return s
}

// from is the earliest exclusive start of a series' window at now, Unix ms
// (what a pass reads from).
func (s *leakScan) from(now time.Time) int64 {
	return now.UnixMilli() - s.window.Milliseconds() - s.bucket.Milliseconds()
}

// start is p's window's exclusive start at end (Unix ms): end − window,
// or the start of p's bucket that holds it.
func (s *leakScan) start(p *seriesPoints, end int64) int64 {
	f := end - s.window.Milliseconds()
	if b := s.bucket.Milliseconds(); b > 0 {
		f = floorDiv(f-p.phase, b)*b + p.phase
	}
	return f
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// add takes a sample into the points (samples come in time order; older
// ones than the newest are dropped).
func (p *seriesPoints) add(t int64, v float64, bucket int64) {
	if len(p.t) > 0 && t <= p.lastT {
		return
	}
	if value.IsStaleNaN(v) {
		return // a staleness marker, not a sample (PromQL skips them too)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return // the analysis drops them
	}
	p.lastT, p.lastV = t, v
	if bucket > 0 {
		// A bucket is judged at its end, even before it ends: a new
		// sample changes it only if it is a new maximum.
		t = ceilDiv(t-p.phase, bucket)*bucket + p.phase
		if n := len(p.t); n > 0 && p.t[n-1] == t {
			if v > p.v[n-1] {
				p.v[n-1], p.judged = v, false
			}
			return
		}
	}
	p.t, p.v = append(p.t, t), append(p.v, v)
	p.judged = false
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// trim drops the points (bucket ends) at or before start.
func (p *seriesPoints) trim(start int64) {
	i := 0
	for i < len(p.t) && p.t[i] <= start {
		i++
	}
	if i > 0 {
		p.t, p.v = slices.Delete(p.t, 0, i), slices.Delete(p.v, 0, i)
		p.judged = false
	}
}

// same tells whether p holds the points q holds.
func (p *seriesPoints) same(q *seriesPoints) bool {
	return p.lastT == q.lastT && p.lastV == q.lastV && slices.Equal(p.t, q.t) && slices.Equal(p.v, q.v)
}

// judge returns the verdict on the points, judging them again if they
// changed.
func (sh *leakShard) judge(p *seriesPoints, o leak.Options) leak.Verdict {
	if p.judged {
		return p.verdict
	}
	sh.buf = sh.buf[:0]
	for i, t := range p.t {
		sh.buf = append(sh.buf, leak.Sample{T: t * int64(time.Millisecond), V: p.v[i]})
	}
	v := sh.an.Leak(sh.buf, o)
	p.verdict, p.judged = v, true
	sh.judged++
	return v
}

// consider adds p's leak, if any, to the shard's findings.
func (sh *leakShard) consider(p *seriesPoints, pods map[string]*cluster.Pod, now time.Time, s *leakScan) {
	pod := pods[p.ns+"/"+p.pod]
	if pod == nil || pod.Deleting || len(p.t) < s.opts.MinPoints {
		return // gone: nothing to warn about
	}
	if now.Sub(time.UnixMilli(p.lastT)) > s.window/4 {
		return // stale: the container stopped reporting
	}
	v := sh.judge(p, s.opts)
	v.Last = p.lastV // the newest sample, not its bucket's maximum
	if v.Leak && v.SlopePerHour >= s.opts.MinSlope {
		sh.found = append(sh.found, growth{pod: pod, container: p.cname, node: pod.NodeName, verdict: v, lset: p.lset})
	}
}

func (s *leakScan) newSeriesPoints(l labels.Labels) *seriesPoints {
	p := &seriesPoints{lset: l, ns: l.Get("namespace"), pod: l.Get("pod"), cname: l.Get("container"),
		t: make([]int64, 0, s.points), v: make([]float64, 0, s.points)}
	if s.bucket > 0 {
		step := (5 * time.Minute).Milliseconds()
		p.phase = int64(l.Hash()%uint64(s.bucket.Milliseconds()/step)) * step //nolint:gosec // G115: bucket is whole hours (leakBucket), the remainder below it
	}
	return p
}

// leaks judges every container's working set over the window at now.
func (s *leakScan) leaks(ctx context.Context, h HistoryQuerier, pods map[string]*cluster.Pod, now time.Time) ([]growth, error) {
	q, ok := h.(queryable)
	var found []growth
	if ok {
		var err error
		if found, err = s.scan(ctx, q.Queryable(), pods, now); err != nil {
			return nil, err
		}
	} else {
		var err error
		if found, err = s.query(ctx, h, pods, now); err != nil {
			return nil, err
		}
	}
	// In the order of the series' labels, as PromQL returns them: the
	// first of equally fast containers of a workload names it.
	slices.SortFunc(found, func(a, b growth) int { return labels.Compare(a.lset, b.lset) })
	return found, nil
}

// query reads the window through PromQL and judges every series afresh.
func (s *leakScan) query(ctx context.Context, h HistoryQuerier, pods map[string]*cluster.Pod, now time.Time) ([]growth, error) {
	from := s.from(now)
	v, err := h.Query(ctx, fmt.Sprintf(`%s[%dms]`, s.metric, now.UnixMilli()-from), now)
	if err != nil {
		return nil, fmt.Errorf("reading the working sets: %w", err)
	}
	sh := &leakShard{}
	m, _ := v.(promql.Matrix)
	end := now.UnixMilli()
	for _, ser := range m {
		p := s.newSeriesPoints(ser.Metric)
		start := s.start(p, end)
		for _, f := range ser.Floats {
			if f.T > start {
				p.add(f.T, f.F, s.bucket.Milliseconds())
			}
		}
		sh.consider(p, pods, now, s)
	}
	s.visited, s.judged, s.full = len(m), sh.judged, true
	return sh.found, nil
}

// scan reads the store directly, in shards, and judges what changed.
func (s *leakScan) scan(ctx context.Context, db storage.Queryable, pods map[string]*cluster.Pod, now time.Time) ([]growth, error) {
	n := runtime.GOMAXPROCS(0)
	full := len(s.shards) != n || s.prevNow.IsZero() || now.Before(s.prevNow) || now.Sub(s.prevNow) > lateWrites
	if full {
		s.shards = make([]*leakShard, n)
		for i := range s.shards {
			s.shards[i] = &leakShard{series: map[uint64]*seriesPoints{}}
		}
	}
	s.passes++
	from, end := s.from(now), now.UnixMilli()
	mint := from + 1
	if !full {
		mint = max(mint, s.prevNow.Add(-lateWrites).UnixMilli())
	}
	var wg sync.WaitGroup
	for i, sh := range s.shards {
		wg.Go(func() {
			sh.found, sh.judged = sh.found[:0], 0
			sh.err = sh.scan(ctx, db, s, uint64(i), uint64(n), full, mint, from, end, pods, now) //nolint:gosec // G115: a shard's index and count, never negative
		})
	}
	wg.Wait()
	s.prevNow, s.full, s.judged, s.visited = now, full, 0, 0
	var out []growth
	for _, sh := range s.shards {
		if sh.err != nil {
			s.prevNow = time.Time{} // read everything next time
			return nil, fmt.Errorf("reading the working sets: %w", sh.err)
		}
		s.judged += sh.judged
		s.visited += len(sh.series)
		out = append(out, sh.found...)
	}
	return out, nil
}

func (sh *leakShard) scan(ctx context.Context, db storage.Queryable, s *leakScan, shard, shards uint64, full bool,
	mint, from, end int64, pods map[string]*cluster.Pod, now time.Time,
) error {
	bucket := s.bucket.Milliseconds()
	q, err := db.Querier(mint, end)
	if err != nil {
		return err
	}
	defer func() { _ = q.Close() }() // a querier only reads: its close error loses nothing
	hints := &storage.SelectHints{Start: mint, End: end}
	if shards > 1 {
		hints.ShardIndex, hints.ShardCount = shard, shards
	}
	var whole storage.Querier // over the whole window, for series first seen in an incremental pass
	defer func() {
		if whole != nil {
			_ = whole.Close()
		}
	}()
	set := q.Select(ctx, false, hints, s.matchers...)
	for set.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		ser := set.At()
		l := ser.Labels()
		key := l.Hash()
		p := sh.series[key]
		if p != nil && !labels.Equal(p.lset, l) {
			continue // a hash collision: keep the series first seen
		}
		if pod := pods[l.Get("namespace")+"/"+l.Get("pod")]; pod == nil || pod.Deleting {
			delete(sh.series, key) // gone: nothing to warn about, nothing to keep
			continue
		}
		if p == nil {
			p = s.newSeriesPoints(l)
			sh.series[key] = p
			if !full {
				// New to the cache: read its whole window.
				if whole == nil {
					if whole, err = db.Querier(from+1, end); err != nil {
						return err
					}
				}
				ms := make([]*labels.Matcher, 0, l.Len())
				l.Range(func(lb labels.Label) { ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, lb.Name, lb.Value)) })
				one := whole.Select(ctx, false, &storage.SelectHints{Start: from + 1, End: end}, ms...)
				for one.Next() {
					sh.read(one.At(), p, s, end, bucket)
				}
				if err := one.Err(); err != nil {
					return err
				}
				continue
			}
		}
		sh.read(ser, p, s, end, bucket)
	}
	if err := set.Err(); err != nil {
		return err
	}
	if !full {
		if err := sh.resync(ctx, db, s, shard, shards, from, end, pods); err != nil {
			return err
		}
	}
	for key, p := range sh.series {
		if pod := pods[p.ns+"/"+p.pod]; pod == nil || pod.Deleting {
			delete(sh.series, key)
			continue
		}
		p.trim(s.start(p, end))
		if len(p.t) == 0 {
			delete(sh.series, key) // no point left in the window
			continue
		}
		sh.consider(p, pods, now, s)
	}
	return nil
}

// resync reads one in resyncSlots of the shard's series whole again, in
// one select of their pods (a select sharded finer would make every block
// read every series' labels to hash them).
func (sh *leakShard) resync(ctx context.Context, db storage.Queryable, s *leakScan, shard, shards uint64,
	from, end int64, pods map[string]*cluster.Pod,
) error {
	slot := s.passes % resyncSlots
	var names []string
	seen := map[string]bool{}
	for key, p := range sh.series {
		if key%resyncSlots == slot && !seen[p.pod] {
			seen[p.pod] = true
			names = append(names, regexp.QuoteMeta(p.pod))
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	q, err := db.Querier(from+1, end)
	if err != nil {
		return err
	}
	defer func() { _ = q.Close() }() // a querier only reads: its close error loses nothing
	ms := append(slices.Clone(s.matchers), labels.MustNewMatcher(labels.MatchRegexp, "pod", strings.Join(names, "|")))
	set := q.Select(ctx, false, &storage.SelectHints{Start: from + 1, End: end}, ms...)
	bucket := s.bucket.Milliseconds()
	for set.Next() {
		l := set.At().Labels()
		if shards > 1 && labels.StableHash(l)%shards != shard {
			continue // another shard's (the TSDB shards by this hash)
		}
		key := l.Hash()
		if pod := pods[l.Get("namespace")+"/"+l.Get("pod")]; pod == nil || pod.Deleting {
			delete(sh.series, key)
			continue
		}
		fresh := s.newSeriesPoints(l)
		sh.read(set.At(), fresh, s, end, bucket)
		if p := sh.series[key]; p != nil {
			if !labels.Equal(p.lset, l) {
				continue
			}
			if p.trim(s.start(p, end)); p.same(fresh) {
				continue // as read: keep its verdict
			}
		}
		sh.series[key] = fresh
	}
	return set.Err()
}

// read adds a series' samples in its window up to end to p.
func (sh *leakShard) read(ser storage.Series, p *seriesPoints, s *leakScan, end, bucket int64) {
	sh.it = ser.Iterator(sh.it)
	vt := sh.it.Seek(max(s.start(p, end)+1, p.lastT+1))
	for ; vt != chunkenc.ValNone; vt = sh.it.Next() {
		if vt != chunkenc.ValFloat {
			continue
		}
		t, v := sh.it.At()
		if t > end {
			break
		}
		p.add(t, v, bucket)
	}
}

// lookback is how far back PromQL's instant selectors look for a sample.
const lookback = 5 * time.Minute

// nodeWorkingSets is PromQL's `sum by (node)
// (container_memory_working_set_bytes{container!="",container!="POD"})` at
// now, read directly: each series' newest sample in the 5 minutes up to now
// (none if it is a staleness marker), summed per node.
func nodeWorkingSets(ctx context.Context, db storage.Queryable, now time.Time) (map[string]float64, error) {
	mint, maxt := now.Add(-lookback).UnixMilli()+1, now.UnixMilli()
	q, err := db.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	defer func() { _ = q.Close() }() // a querier only reads: its close error loses nothing
	set := q.Select(ctx, false, &storage.SelectHints{Start: mint, End: maxt},
		labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "container_memory_working_set_bytes"),
		labels.MustNewMatcher(labels.MatchNotEqual, "container", ""),
		labels.MustNewMatcher(labels.MatchNotEqual, "container", "POD"))
	used := map[string]float64{}
	var it chunkenc.Iterator
	for set.Next() {
		it = set.At().Iterator(it)
		var last float64
		found := false
		for vt := it.Seek(mint); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue
			}
			t, v := it.At()
			if t > maxt {
				break
			}
			last, found = v, true
		}
		if found && !value.IsStaleNaN(last) {
			used[set.At().Labels().Get("node")] += last
		}
	}
	return used, set.Err()
}

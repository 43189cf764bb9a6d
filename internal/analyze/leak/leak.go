// Package leak tells a memory leak from the shapes that look like one: it
// fits a robust trend to a container's working set — the Theil–Sen slope
// (the median of pairwise slopes, unmoved by spikes) with a Mann–Kendall
// test of monotonic growth — over the segments between restarts, so that an
// OOM kill's drop to baseline and the regrowth after it count as the same
// leak, not as a recovery; and it requires the growth to go on in the most
// recent part of the history, so a cache that warms up and stops (a
// plateau) or a batch job that peaks and returns (a spike) is no leak.
// Short or gappy history gets "not enough data", never a confident guess.
package leak

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Point is one working-set sample in bytes.
type Point struct {
	T time.Time
	V float64
}

// Options are the verdict's thresholds.
type Options struct {
	// MinPoints and MinSpan are the least history to judge.
	MinPoints int
	MinSpan   time.Duration
	// MinSlope is the least growth that matters, in bytes per hour.
	MinSlope float64
	// Z is the Mann–Kendall z-score above which growth is significant
	// (2.33 ≈ 99% one-sided).
	Z float64
	// ResetDrop is the relative drop that marks a restart (0.3: a fall of
	// 30% or more from one sample to the next).
	ResetDrop float64
	// SpikeWindow is the width of the rolling median the series is smoothed
	// with first: spikes shorter than half of it vanish, steps (restarts)
	// and trends stay.
	SpikeWindow time.Duration
	// RecentShare is the share of the last segment's time that must still
	// grow at RecentRatio of the overall slope or more.
	RecentShare, RecentRatio float64
	// RecentMin is the least points the recent part holds: where the last
	// RecentShare of the time holds fewer (sparse points, such as hourly
	// maxima, in a short stretch after a restart), it is the stretch's last
	// RecentMin points (0: no such minimum).
	RecentMin int
	// MaxFit bounds the points of a segment the O(n²) Theil–Sen fit and
	// Mann–Kendall test pair, evenly thinned (0: 400). A pass over tens of
	// thousands of 14-day series uses fewer.
	MaxFit int
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{MinPoints: 20, MinSpan: time.Hour, MinSlope: 5 << 20, Z: 2.33, ResetDrop: 0.3,
		SpikeWindow: 40 * time.Minute, RecentShare: 1.0 / 3, RecentRatio: 0.4}
}

// Validate names every bad field.
func (o Options) Validate() error {
	var errs []error
	if o.MinPoints < 5 {
		errs = append(errs, fmt.Errorf("minPoints: at least 5, got %d", o.MinPoints))
	}
	if o.MinSpan <= 0 {
		errs = append(errs, fmt.Errorf("minSpan: must be positive, got %s", o.MinSpan))
	}
	if o.ResetDrop <= 0 || o.ResetDrop >= 1 {
		errs = append(errs, fmt.Errorf("resetDrop: must be in (0, 1), got %v", o.ResetDrop))
	}
	if o.RecentMin < 0 {
		errs = append(errs, fmt.Errorf("recentMin: must not be negative, got %d", o.RecentMin))
	}
	if o.RecentShare <= 0 || o.RecentShare > 1 {
		errs = append(errs, fmt.Errorf("recentShare: must be in (0, 1], got %v", o.RecentShare))
	}
	return errors.Join(errs...)
}

// Verdict is the analysis of one series.
type Verdict struct {
	// Leak is true when the working set grows significantly, steadily and
	// still.
	Leak bool `json:"leak"`
	// Enough is false when the history is too short to judge; Reason says
	// what is missing.
	Enough bool   `json:"enoughData"`
	Reason string `json:"reason"`
	// SlopePerHour is the robust growth in bytes per hour over the history.
	SlopePerHour float64 `json:"bytesPerHour"`
	// RecentSlopePerHour is the growth over the most recent part.
	RecentSlopePerHour float64 `json:"recentBytesPerHour"`
	// Confidence is 1 − p of the Mann–Kendall test of growth.
	Confidence float64 `json:"confidence"`
	// Restarts counts the drops to baseline seen.
	Restarts int `json:"restarts"`
	// Last is the newest value.
	Last float64 `json:"last"`
}

// TimeTo returns how long until the series reaches limit at its slope,
// false if it does not grow.
func (v Verdict) TimeTo(limit float64) (time.Duration, bool) {
	if v.SlopePerHour <= 0 || limit <= v.Last {
		return 0, v.SlopePerHour > 0 && limit <= v.Last
	}
	h := (limit - v.Last) / v.SlopePerHour
	return time.Duration(h * float64(time.Hour)), true
}

// Analyze judges a series (any order; it is sorted by time).
func Analyze(points []Point, o Options) Verdict {
	samples := make([]Sample, len(points))
	for i, p := range points {
		samples[i] = Sample{T: p.T.UnixNano(), V: p.V}
	}
	var a Analyzer
	return a.analyze(samples, o, false)
}

// Sample is one working-set sample: T in Unix nanoseconds, V in bytes.
type Sample struct {
	T int64
	V float64
}

// Analyzer judges one series after another with buffers it keeps, so a pass
// over tens of thousands of containers allocates next to nothing per
// series. Its verdicts are Analyze's. The zero value is ready; it is not
// safe for concurrent use (one per goroutine).
type Analyzer struct {
	pts     []Sample  // the input, cleaned and sorted
	sm      []float64 // pts smoothed, where computed (NaN elsewhere)
	win     []float64 // one smoothing window
	lo, hi  []int     // each point's window
	mn, mx  []float64 // each window's least and greatest value
	minQ    []int
	maxQ    []int
	segs    [][2]int // [start, end) of each stretch between restarts
	fit     []Sample // the thinned stretches, one after the other
	fitEnd  []int    // where each stretch's thinned points end in fit
	slopes  []float64
	mk, mk2 []float64 // the Mann–Kendall merge sort's two buffers
}

// Analyze judges samples (any order; sorted by time if they are not).
func (a *Analyzer) Analyze(samples []Sample, o Options) Verdict {
	return a.analyze(samples, o, false)
}

// Leak is Analyze for a caller that wants only the leaks: a series without
// significant growth (the Mann–Kendall test fails) stops there, its verdict
// complete but for SlopePerHour and RecentSlopePerHour, which stay zero
// (most series of a cluster do not grow, and their pairwise slopes are
// most of the work); one that grows slower than MinSlope has no
// RecentSlopePerHour. Leak and Reason are Analyze's.
func (a *Analyzer) Leak(samples []Sample, o Options) Verdict {
	return a.analyze(samples, o, true)
}

func bySampleTime(a, b Sample) int { return cmp.Compare(a.T, b.T) }

func (a *Analyzer) analyze(samples []Sample, o Options, leaksOnly bool) Verdict {
	pts := a.pts[:0]
	for _, p := range samples {
		if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) && p.V >= 0 {
			pts = append(pts, p)
		}
	}
	if !slices.IsSortedFunc(pts, bySampleTime) {
		slices.SortStableFunc(pts, bySampleTime)
	}
	a.pts = pts
	var v Verdict
	if len(pts) > 0 {
		v.Last = pts[len(pts)-1].V
	}
	if len(pts) < o.MinPoints {
		v.Reason = fmt.Sprintf("not enough data: %d samples, need %d", len(pts), o.MinPoints)
		return v
	}
	if span := time.Duration(pts[len(pts)-1].T - pts[0].T); span < o.MinSpan {
		v.Reason = fmt.Sprintf("not enough data: %s of history, need %s", span.Round(time.Second), o.MinSpan)
		return v
	}
	// Restarts are found on the smoothed series, so a spike's fall is not
	// taken for one; the fits use the raw samples (smoothing would correlate
	// neighbours and overstate the test's confidence).
	a.split(o.SpikeWindow, 1-o.ResetDrop)
	v.Restarts = len(a.segs) - 1
	// The Mann–Kendall test first: it is cheap, and without significant
	// growth a caller that wants only leaks needs no slopes.
	a.fit, a.fitEnd = a.fit[:0], a.fitEnd[:0]
	var s, variance float64
	anySlope := false
	for _, seg := range a.segs {
		if seg[1]-seg[0] < 3 {
			continue
		}
		from := len(a.fit)
		a.fit = appendThinned(a.fit, pts[seg[0]:seg[1]], o.MaxFit)
		a.fitEnd = append(a.fitEnd, len(a.fit))
		th := a.fit[from:]
		ss, vv := a.mannKendall(th)
		s, variance = s+ss, variance+vv
		anySlope = anySlope || th[0].T < th[len(th)-1].T
	}
	if !anySlope || variance == 0 {
		v.Reason = "not enough data: restarts leave no stretch of 3 samples to fit"
		return v
	}
	v.Enough = true
	z := 0.0
	switch {
	case s > 0:
		z = (s - 1) / math.Sqrt(variance)
	case s < 0:
		z = (s + 1) / math.Sqrt(variance)
	}
	v.Confidence = 0.5 * math.Erfc(-z/math.Sqrt2)
	if leaksOnly && z < o.Z {
		v.Reason = fmt.Sprintf("no significant growth (Mann–Kendall z = %.1f < %.2f)", z, o.Z)
		return v
	}
	a.slopes = a.slopes[:0]
	from := 0
	for _, end := range a.fitEnd {
		a.slopes = appendPairSlopes(a.slopes, a.fit[from:end])
		from = end
	}
	v.SlopePerHour = median(a.slopes) * float64(time.Hour/time.Second)
	if !leaksOnly || v.SlopePerHour >= o.MinSlope {
		last := a.segs[len(a.segs)-1]
		if last[1]-last[0] < 6 && len(a.segs) > 1 {
			last = a.segs[len(a.segs)-2] // just restarted: judge the stretch before
		}
		recent := tail(pts[last[0]:last[1]], o.RecentShare)
		if n := last[1] - last[0]; len(recent) < o.RecentMin {
			recent = pts[last[1]-min(n, o.RecentMin) : last[1]]
		}
		if len(recent) >= 3 {
			a.fit = appendThinned(a.fit[:0], recent, o.MaxFit)
			a.slopes = appendPairSlopes(a.slopes[:0], a.fit)
			v.RecentSlopePerHour = median(a.slopes) * float64(time.Hour/time.Second)
		}
	}
	switch {
	case z < o.Z:
		v.Reason = fmt.Sprintf("no significant growth (Mann–Kendall z = %.1f < %.2f)", z, o.Z)
	case v.SlopePerHour < o.MinSlope:
		v.Reason = fmt.Sprintf("grows %s/h, under the %s/h that matters", mib(v.SlopePerHour), mib(o.MinSlope))
	case v.RecentSlopePerHour < o.RecentRatio*v.SlopePerHour:
		v.Reason = fmt.Sprintf("growth stopped: %s/h lately against %s/h overall (a warm-up plateau)", mib(v.RecentSlopePerHour), mib(v.SlopePerHour))
	default:
		v.Leak = true
		v.Reason = fmt.Sprintf("grows %s/h, steadily (Mann–Kendall z = %.1f)", mib(v.SlopePerHour), z)
		if v.Restarts > 0 {
			v.Reason += fmt.Sprintf(", across %d restarts", v.Restarts)
		}
	}
	return v
}

// split sets a.segs to the stretches between restarts: where the
// smoothed series — each value replaced by the median of those within
// ±window/2 — falls below keep times its value before. A median lies
// between its window's least and greatest value, so it is computed only
// where the window's least is below keep times the greatest of the window
// before; elsewhere there can be no restart (and a series without one
// costs a sliding minimum and maximum instead of a median per point).
func (a *Analyzer) split(window time.Duration, keep float64) {
	pts := a.pts
	n := len(pts)
	a.segs = a.segs[:0]
	start := 0
	cut := func(i int) {
		a.segs = append(a.segs, [2]int{start, i})
		start = i
	}
	if window <= 0 {
		for i := 1; i < n; i++ {
			if pts[i].V < pts[i-1].V*keep {
				cut(i)
			}
		}
		a.segs = append(a.segs, [2]int{start, n})
		return
	}
	half := int64(window / 2)
	a.lo, a.hi = slices.Grow(a.lo[:0], n)[:n], slices.Grow(a.hi[:0], n)[:n]
	a.mn, a.mx = slices.Grow(a.mn[:0], n)[:n], slices.Grow(a.mx[:0], n)[:n]
	a.sm = slices.Grow(a.sm[:0], n)[:n]
	// Monotonic queues of indexes: the window's least and greatest at the
	// front.
	minQ, maxQ := a.minQ[:0], a.maxQ[:0]
	minH, maxH := 0, 0
	lo, hi := 0, 0
	for i, p := range pts {
		for pts[lo].T < p.T-half {
			lo++
		}
		for hi < n && pts[hi].T <= p.T+half {
			v := pts[hi].V
			for len(minQ) > minH && pts[minQ[len(minQ)-1]].V >= v {
				minQ = minQ[:len(minQ)-1]
			}
			minQ = append(minQ, hi)
			for len(maxQ) > maxH && pts[maxQ[len(maxQ)-1]].V <= v {
				maxQ = maxQ[:len(maxQ)-1]
			}
			maxQ = append(maxQ, hi)
			hi++
		}
		for minQ[minH] < lo {
			minH++
		}
		for maxQ[maxH] < lo {
			maxH++
		}
		a.lo[i], a.hi[i] = lo, hi
		a.mn[i], a.mx[i] = pts[minQ[minH]].V, pts[maxQ[maxH]].V
		a.sm[i] = math.NaN() // not computed yet
	}
	a.minQ, a.maxQ = minQ, maxQ
	for i := 1; i < n; i++ {
		if a.mn[i] < a.mx[i-1]*keep && a.smoothed(i) < a.smoothed(i-1)*keep {
			cut(i)
		}
	}
	a.segs = append(a.segs, [2]int{start, n})
}

// smoothed is the median of point i's window (see split).
func (a *Analyzer) smoothed(i int) float64 {
	if !math.IsNaN(a.sm[i]) {
		return a.sm[i]
	}
	a.win = a.win[:0]
	for _, q := range a.pts[a.lo[i]:a.hi[i]] {
		a.win = append(a.win, q.V)
	}
	a.sm[i] = median(a.win)
	return a.sm[i]
}

// maxFit bounds the points a Theil–Sen fit pairs (O(n²)); longer series are
// thinned evenly.
const maxFit = 400

// appendThinned appends at most most of pts, evenly spaced, first and last
// included.
func appendThinned(dst, pts []Sample, most int) []Sample {
	if most <= 1 {
		most = maxFit
	}
	if len(pts) <= most {
		return append(dst, pts...)
	}
	for i := range most {
		dst = append(dst, pts[i*(len(pts)-1)/(most-1)])
	}
	return dst
}

// appendPairSlopes appends the slopes (per second) between every pair of
// points.
func appendPairSlopes(dst []float64, pts []Sample) []float64 {
	dst = slices.Grow(dst, len(pts)*(len(pts)-1)/2)
	if len(pts) == 0 {
		return dst
	}
	// When every time is a whole number of seconds from the first (the
	// TSDB's timestamps on the 5-minute grid), float seconds subtract
	// exactly: the same slopes, without a Duration division per pair.
	t0 := pts[0].T
	for _, p := range pts {
		if (p.T-t0)%int64(time.Second) != 0 {
			return appendPairSlopesDurations(dst, pts)
		}
	}
	var secs [maxFit]float64
	if len(pts) > len(secs) {
		return appendPairSlopesDurations(dst, pts)
	}
	for i, p := range pts {
		secs[i] = float64((p.T - t0) / int64(time.Second))
	}
	for i, p := range pts {
		si := secs[i]
		for j := i + 1; j < len(pts); j++ {
			if dt := secs[j] - si; dt > 0 {
				dst = append(dst, (pts[j].V-p.V)/dt)
			}
		}
	}
	return dst
}

func appendPairSlopesDurations(dst []float64, pts []Sample) []float64 {
	for i, p := range pts {
		for _, q := range pts[i+1:] {
			if dt := time.Duration(q.T - p.T).Seconds(); dt > 0 {
				dst = append(dst, (q.V-p.V)/dt)
			}
		}
	}
	return dst
}

// mannKendall returns the S statistic and its variance (no tie
// correction beyond counting equal pairs as zero). S — over every pair of
// points, +1 where the later is higher, −1 where lower — is counted while
// merge-sorting the values, as inversions are: O(n log n) instead of
// looking at each of the n²/2 pairs.
func (a *Analyzer) mannKendall(pts []Sample) (s, variance float64) {
	n := len(pts)
	a.mk, a.mk2 = slices.Grow(a.mk[:0], n)[:n], slices.Grow(a.mk2[:0], n)[:n]
	vals, tmp := a.mk, a.mk2
	for i, p := range pts {
		vals[i] = p.V
	}
	var si int
	for width := 1; width < n; width *= 2 {
		for lo := 0; lo < n; lo += 2 * width {
			mid, hi := min(lo+width, n), min(lo+2*width, n)
			left, right := vals[lo:mid], vals[mid:hi]
			// Each later value r against the sorted earlier ones: below
			// counts those under r, atMost those not above it.
			below, atMost := 0, 0
			for _, r := range right {
				for below < len(left) && left[below] < r {
					below++
				}
				for atMost < len(left) && left[atMost] <= r {
					atMost++
				}
				si += below - (len(left) - atMost)
			}
			i, j, k := 0, 0, lo
			for i < len(left) && j < len(right) {
				if left[i] <= right[j] {
					tmp[k], i = left[i], i+1
				} else {
					tmp[k], j = right[j], j+1
				}
				k++
			}
			k += copy(tmp[k:], left[i:])
			copy(tmp[k:], right[j:])
		}
		vals, tmp = tmp, vals
	}
	nf := float64(n)
	return float64(si), nf * (nf - 1) * (2*nf + 5) / 18
}

func tail(pts []Sample, share float64) []Sample {
	if len(pts) == 0 {
		return nil
	}
	lastT := pts[len(pts)-1].T
	cut := lastT - int64(time.Duration(float64(lastT-pts[0].T)*share))
	i, _ := slices.BinarySearchFunc(pts, cut, func(p Sample, t int64) int { return cmp.Compare(p.T, t) })
	return pts[i:]
}

// median reorders xs. It selects rather than sorts: a 14-day series has
// 80,000 pairwise slopes, and sorting them was most of a leak pass.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	hi := nth(xs, n/2)
	if n%2 == 1 {
		return hi
	}
	// After nth, xs[:n/2] holds the smaller half: its largest is the other
	// middle (a plain loop: there is no NaN to order).
	lo := xs[0]
	for _, x := range xs[1 : n/2] {
		if x > lo {
			lo = x
		}
	}
	return (lo + hi) / 2
}

// nth puts the k-th smallest element at xs[k], smaller ones before it and
// larger ones after (Hoare's selection, median-of-three pivots), and
// returns it.
func nth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

func mib(bytes float64) string { return fmt.Sprintf("%.1f MiB", bytes/(1<<20)) }

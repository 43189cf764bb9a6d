package leak

// The analysis as it was before the Analyzer (commit c3a8124), kept to show
// the Analyzer's verdicts are the same: TestAnalyzerMatchesReference.

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Analyze judges a series (any order; it is sorted by time).
func refAnalyze(points []Point, o Options) Verdict {
	pts := slices.Clone(points)
	slices.SortFunc(pts, func(a, b Point) int { return a.T.Compare(b.T) })
	pts = slices.DeleteFunc(pts, func(p Point) bool { return math.IsNaN(p.V) || math.IsInf(p.V, 0) || p.V < 0 })
	var v Verdict
	if len(pts) > 0 {
		v.Last = pts[len(pts)-1].V
	}
	if len(pts) < o.MinPoints {
		v.Reason = fmt.Sprintf("not enough data: %d samples, need %d", len(pts), o.MinPoints)
		return v
	}
	if span := pts[len(pts)-1].T.Sub(pts[0].T); span < o.MinSpan {
		v.Reason = fmt.Sprintf("not enough data: %s of history, need %s", span.Round(time.Second), o.MinSpan)
		return v
	}
	// Restarts are found on the smoothed series, so a spike's fall is not
	// taken for one; the fits use the raw samples (smoothing would correlate
	// neighbours and overstate the test's confidence).
	segs := refSplit(pts, refRestarts(refSmooth(pts, o.SpikeWindow), o.ResetDrop))
	v.Restarts = len(segs) - 1
	var slopes []float64
	var s, variance float64
	for _, seg := range segs {
		if len(seg) < 3 {
			continue
		}
		slopes = append(slopes, refPairSlopes(seg, o.MaxFit)...)
		ss, vv := refMannKendall(seg, o.MaxFit)
		s, variance = s+ss, variance+vv
	}
	if len(slopes) == 0 || variance == 0 {
		v.Reason = "not enough data: restarts leave no stretch of 3 samples to fit"
		return v
	}
	v.Enough = true
	v.SlopePerHour = refMedian(slopes) * float64(time.Hour/time.Second)
	z := 0.0
	switch {
	case s > 0:
		z = (s - 1) / math.Sqrt(variance)
	case s < 0:
		z = (s + 1) / math.Sqrt(variance)
	}
	v.Confidence = 0.5 * math.Erfc(-z/math.Sqrt2)
	last := segs[len(segs)-1]
	if len(last) < 6 && len(segs) > 1 {
		last = segs[len(segs)-2] // just restarted: judge the stretch before
	}
	recent := refTail(last, o.RecentShare)
	if len(recent) >= 3 {
		v.RecentSlopePerHour = refMedian(refPairSlopes(recent, o.MaxFit)) * float64(time.Hour/time.Second)
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

// smooth replaces each value by the median of those within ±window/2.
func refSmooth(pts []Point, window time.Duration) []Point {
	if window <= 0 {
		return pts
	}
	out := make([]Point, len(pts))
	lo, hi := 0, 0
	buf := make([]float64, 0, 64)
	for i, p := range pts {
		for pts[lo].T.Before(p.T.Add(-window / 2)) {
			lo++
		}
		for hi < len(pts) && !pts[hi].T.After(p.T.Add(window/2)) {
			hi++
		}
		buf = buf[:0]
		for _, q := range pts[lo:hi] {
			buf = append(buf, q.V)
		}
		out[i] = Point{T: p.T, V: refMedian(buf)}
	}
	return out
}

// restarts returns the indexes where the series drops by drop or more.
func refRestarts(pts []Point, drop float64) []int {
	var out []int
	for i := 1; i < len(pts); i++ {
		if pts[i].V < pts[i-1].V*(1-drop) {
			out = append(out, i)
		}
	}
	return out
}

// split cuts pts at the given indexes.
func refSplit(pts []Point, at []int) [][]Point {
	var out [][]Point
	start := 0
	for _, i := range at {
		out = append(out, pts[start:i])
		start = i
	}
	return append(out, pts[start:])
}

func refThin(pts []Point, most int) []Point {
	if most <= 1 {
		most = maxFit
	}
	if len(pts) <= most {
		return pts
	}
	out := make([]Point, most)
	for i := range out {
		out[i] = pts[i*(len(pts)-1)/(most-1)]
	}
	return out
}

// pairSlopes are the slopes (per second) between every pair of points.
func refPairSlopes(pts []Point, most int) []float64 {
	pts = refThin(pts, most)
	out := make([]float64, 0, len(pts)*(len(pts)-1)/2)
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			if dt := pts[j].T.Sub(pts[i].T).Seconds(); dt > 0 {
				out = append(out, (pts[j].V-pts[i].V)/dt)
			}
		}
	}
	return out
}

// mannKendall returns the S statistic and its variance (no tie correction
// beyond counting equal pairs as zero).
func refMannKendall(pts []Point, most int) (s, variance float64) {
	pts = refThin(pts, most)
	n := float64(len(pts))
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			s += float64(cmp.Compare(pts[j].V, pts[i].V))
		}
	}
	return s, n * (n - 1) * (2*n + 5) / 18
}

func refTail(pts []Point, share float64) []Point {
	if len(pts) == 0 {
		return nil
	}
	cut := pts[len(pts)-1].T.Add(-time.Duration(float64(pts[len(pts)-1].T.Sub(pts[0].T)) * share))
	i, _ := slices.BinarySearchFunc(pts, cut, func(p Point, t time.Time) int { return p.T.Compare(t) })
	return pts[i:]
}

// median reorders xs. It selects rather than sorts: a 14-day series has
// 80,000 pairwise slopes, and sorting them was most of a leak pass.
func refMedian(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	hi := refNth(xs, n/2)
	if n%2 == 1 {
		return hi
	}
	// After nth, xs[:n/2] holds the smaller half: its largest is the other middle.
	return (slices.Max(xs[:n/2]) + hi) / 2
}

// nth puts the k-th smallest element at xs[k], smaller ones before it and
// larger ones after (Hoare's selection, median-of-three pivots), and
// returns it.
func refNth(xs []float64, k int) float64 {
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

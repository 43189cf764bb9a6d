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
	segs := split(pts, restarts(smooth(pts, o.SpikeWindow), o.ResetDrop))
	v.Restarts = len(segs) - 1
	var slopes []float64
	var s, variance float64
	for _, seg := range segs {
		if len(seg) < 3 {
			continue
		}
		slopes = append(slopes, pairSlopes(seg, o.MaxFit)...)
		ss, vv := mannKendall(seg, o.MaxFit)
		s, variance = s+ss, variance+vv
	}
	if len(slopes) == 0 || variance == 0 {
		v.Reason = "not enough data: restarts leave no stretch of 3 samples to fit"
		return v
	}
	v.Enough = true
	v.SlopePerHour = median(slopes) * float64(time.Hour/time.Second)
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
	recent := tail(last, o.RecentShare)
	if len(recent) >= 3 {
		v.RecentSlopePerHour = median(pairSlopes(recent, o.MaxFit)) * float64(time.Hour/time.Second)
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
func smooth(pts []Point, window time.Duration) []Point {
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
		out[i] = Point{T: p.T, V: median(buf)}
	}
	return out
}

func valuesOf(pts []Point) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.V
	}
	return out
}

// restarts returns the indexes where the series drops by drop or more.
func restarts(pts []Point, drop float64) []int {
	var out []int
	for i := 1; i < len(pts); i++ {
		if pts[i].V < pts[i-1].V*(1-drop) {
			out = append(out, i)
		}
	}
	return out
}

// split cuts pts at the given indexes.
func split(pts []Point, at []int) [][]Point {
	var out [][]Point
	start := 0
	for _, i := range at {
		out = append(out, pts[start:i])
		start = i
	}
	return append(out, pts[start:])
}

// maxFit bounds the points a Theil–Sen fit pairs (O(n²)); longer series are
// thinned evenly.
const maxFit = 400

func thin(pts []Point, most int) []Point {
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
func pairSlopes(pts []Point, most int) []float64 {
	pts = thin(pts, most)
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
func mannKendall(pts []Point, most int) (s, variance float64) {
	pts = thin(pts, most)
	n := float64(len(pts))
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			s += float64(cmp.Compare(pts[j].V, pts[i].V))
		}
	}
	return s, n * (n - 1) * (2*n + 5) / 18
}

func tail(pts []Point, share float64) []Point {
	if len(pts) == 0 {
		return nil
	}
	cut := pts[len(pts)-1].T.Add(-time.Duration(float64(pts[len(pts)-1].T.Sub(pts[0].T)) * share))
	i, _ := slices.BinarySearchFunc(pts, cut, func(p Point, t time.Time) int { return p.T.Compare(t) })
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
	// After nth, xs[:n/2] holds the smaller half: its largest is the other middle.
	return (slices.Max(xs[:n/2]) + hi) / 2
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

package leak

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const mi = 1 << 20

var t0 = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

// series samples f every minute for hours, with Gaussian noise of sd bytes.
func series(hours float64, sd float64, seed uint64, f func(h float64) float64) []Point {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []Point
	for m := 0; float64(m) < hours*60; m++ {
		h := float64(m) / 60
		out = append(out, Point{T: t0.Add(time.Duration(m) * time.Minute), V: math.Max(0, f(h)+r.NormFloat64()*sd)})
	}
	return out
}

func TestAnalyze(t *testing.T) {
	cases := []struct {
		name      string
		pts       []Point
		leak      bool
		slope     float64 // MiB/h, checked within 10% for leaks
		reasonHas string
	}{
		{"linear leak", series(6, 5*mi, 1, func(h float64) float64 { return 200*mi + 60*mi*h }), true, 60, "steadily"},
		{"leak with OOM restarts", series(10, 3*mi, 2, func(h float64) float64 {
			// 100 MiB, +120 MiB/h, killed at its 512 MiB limit.
			return 100*mi + math.Mod(120*mi*h, 412*mi)
		}), true, 120, "restarts"},
		{"warm-up plateau", series(8, 4*mi, 3, func(h float64) float64 {
			return 100*mi + 300*mi*(1-math.Exp(-h/0.5))
		}), false, 0, "MiB/h"},
		{"warm-up, plateau lately", series(3, 2*mi, 12, func(h float64) float64 {
			return 100*mi + 300*mi*math.Min(h/2, 1)
		}), false, 0, "plateau"},
		{"spiky batch", series(8, 3*mi, 4, func(h float64) float64 {
			if math.Mod(h*60, 90) < 10 {
				return 1536 * mi
			}
			return 150 * mi
		}), false, 0, "no significant growth"},
		{"noisy flat", series(8, 20*mi, 5, func(float64) float64 { return 300 * mi }), false, 0, "no significant growth"},
		{"too slow to matter", series(8, 0.2*mi, 6, func(h float64) float64 { return 300*mi + 1*mi*h }), false, 0, "under the"},
		{"short history", series(0.25, 1*mi, 7, func(h float64) float64 { return 100*mi + 600*mi*h }), false, 0, "not enough data"},
		{"few samples", series(6, 1*mi, 8, func(float64) float64 { return mi })[:10], false, 0, "not enough data: 10 samples"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Analyze(tc.pts, DefaultOptions())
			if v.Leak != tc.leak || !strings.Contains(v.Reason, tc.reasonHas) {
				t.Fatalf("leak=%v (%s), want %v and a reason with %q; slope %.1f MiB/h recent %.1f z-conf %.3f",
					v.Leak, v.Reason, tc.leak, tc.reasonHas, v.SlopePerHour/mi, v.RecentSlopePerHour/mi, v.Confidence)
			}
			if tc.leak {
				if got := v.SlopePerHour / mi; math.Abs(got-tc.slope) > 0.1*tc.slope {
					t.Errorf("slope %.1f MiB/h, want %.0f ± 10%%", got, tc.slope)
				}
				if v.Confidence < 0.99 {
					t.Errorf("confidence %.3f for a clear leak", v.Confidence)
				}
			}
		})
	}
}

func TestRestartsCounted(t *testing.T) {
	pts := series(10, 1*mi, 9, func(h float64) float64 { return 100*mi + math.Mod(120*mi*h, 412*mi) })
	if v := Analyze(pts, DefaultOptions()); v.Restarts != 2 {
		t.Errorf("restarts %d, want 2 (at 412/120 h and twice that)", v.Restarts)
	}
}

func TestTimeTo(t *testing.T) {
	v := Verdict{SlopePerHour: 100 * mi, Last: 300 * mi}
	if d, ok := v.TimeTo(512 * mi); !ok || d != 2*time.Hour+7*time.Minute+12*time.Second {
		t.Errorf("TimeTo 512Mi = %v %v, want 2h7m12s", d, ok)
	}
	if _, ok := (Verdict{SlopePerHour: -1, Last: 1}).TimeTo(2); ok {
		t.Error("a shrinking series has no time to the limit")
	}
}

// Order, NaN and negative samples do not change the verdict.
func TestAnalyzeMessyInput(t *testing.T) {
	pts := series(6, 2*mi, 10, func(h float64) float64 { return 200*mi + 60*mi*h })
	messy := append([]Point{{T: t0, V: math.NaN()}, {T: t0, V: -5}}, pts...)
	for i, j := 0, len(messy)-1; i < j; i, j = i+1, j-1 {
		messy[i], messy[j] = messy[j], messy[i]
	}
	a, b := Analyze(pts, DefaultOptions()), Analyze(messy, DefaultOptions())
	if a.Leak != b.Leak || math.Abs(a.SlopePerHour-b.SlopePerHour) > 1 {
		t.Errorf("clean %+v, messy %+v", a, b)
	}
}

func BenchmarkAnalyze14Days(b *testing.B) {
	pts := series(14*24, 5*mi, 11, func(h float64) float64 { return 200*mi + 2*mi*h })
	b.ResetTimer()
	for range b.N {
		Analyze(pts, DefaultOptions())
	}
}

// TestMedian: selection gives the sorted median, for odd and even lengths,
// duplicates and sorted or reversed input.
func TestMedian(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 300; n++ {
		for _, gen := range []func(i int) float64{
			func(int) float64 { return r.NormFloat64() },
			func(i int) float64 { return float64(i) },
			func(i int) float64 { return float64(-i) },
			func(i int) float64 { return float64(i % 3) },
		} {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = gen(i)
			}
			sorted := slices.Clone(xs)
			slices.Sort(sorted)
			want := sorted[n/2]
			if n%2 == 0 {
				want = (sorted[n/2-1] + sorted[n/2]) / 2
			}
			if got := median(xs); got != want {
				t.Fatalf("n=%d: median %v, want %v", n, got, want)
			}
		}
	}
}

// The demo's consumer fills a cache in its first 30 s, then holds; the
// daemon judges it, at 5 s samples, with the options of a 2-minute leak
// window. From the first moment there is enough history to judge (a minute)
// on, that is no leak; the demo's leak, judged the same way, is one.
func TestShortWarmupIsNoLeak(t *testing.T) {
	o := DefaultOptions()
	o.MinSpan, o.SpikeWindow, o.MinPoints, o.MaxFit = time.Minute, 15*time.Second, 10, 120
	o.MinSlope = 100 * mi
	shape := func(age time.Duration, f func(s float64) float64) []Point {
		var pts []Point
		for s := 0.0; s <= age.Seconds(); s += 5 {
			pts = append(pts, Point{T: t0.Add(time.Duration(s) * time.Second), V: f(s)})
		}
		return pts
	}
	warmup := func(s float64) float64 { return 200*mi + 1200*mi*math.Min(s, 30)/60 }
	leaking := func(s float64) float64 { return 600*mi + 3200*mi*s/60 }
	for age := time.Minute; age <= 2*time.Minute; age += 5 * time.Second {
		if v := Analyze(shape(age, warmup), o); v.Leak {
			t.Errorf("a 30 s warm-up judged at %s is called a leak: %s", age, v.Reason)
		}
		if v := Analyze(shape(age, leaking), o); !v.Leak || math.Abs(v.SlopePerHour/mi-3200*60) > 0.1*3200*60 {
			t.Errorf("the demo's leak judged at %s: leak=%v, %.0f MiB/h (%s)", age, v.Leak, v.SlopePerHour/mi, v.Reason)
		}
	}
}

package leak

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAnalyzerMatchesReference: the Analyzer (and Analyze, which uses it)
// gives exactly the verdicts of the analysis as it was before it, on
// leaks, leaks with restarts, plateaus, spikes, flat noise, short and
// sparse series, on whole seconds and off them, with one Analyzer reused
// across all of them; Leak agrees on everything it computes.
func TestAnalyzerMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	shapes := []func(h float64) float64{
		func(h float64) float64 { return 200*mi + 60*mi*h },
		func(h float64) float64 { return 100*mi + math.Mod(120*mi*h, 412*mi) },
		func(h float64) float64 { return 100*mi + 300*mi*(1-math.Exp(-h/0.5)) },
		func(h float64) float64 {
			if math.Mod(h*60, 90) < 10 {
				return 1536 * mi
			}
			return 150 * mi
		},
		func(float64) float64 { return 300 * mi },
		func(h float64) float64 { return 300*mi + 1*mi*h },
		func(h float64) float64 { return 100*mi + 300*mi*math.Min(h/2, 1) },
	}
	var a Analyzer
	for i := range 400 {
		f := shapes[i%len(shapes)]
		hours := []float64{0.3, 1, 3, 8, 30}[r.IntN(5)]
		step := []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute}[r.IntN(3)]
		sd := []float64{0, 1 * mi, 5 * mi, 30 * mi}[r.IntN(4)]
		jitter := r.IntN(3) == 0 // times off whole seconds
		var pts []Point
		for m := time.Duration(0); m.Hours() < hours; m += step {
			if r.IntN(20) == 0 {
				continue // gaps
			}
			at := t0.Add(m)
			if jitter {
				at = at.Add(time.Duration(r.IntN(1e6)) * time.Microsecond)
			}
			pts = append(pts, Point{T: at, V: math.Max(0, f(m.Hours())+r.NormFloat64()*sd)})
		}
		o := DefaultOptions()
		o.MaxFit = []int{0, 30, 120}[r.IntN(3)]
		o.SpikeWindow = []time.Duration{0, 5 * time.Minute, 40 * time.Minute}[r.IntN(3)]
		o.MinPoints = []int{5, 20}[r.IntN(2)]
		want := refAnalyze(pts, o)
		if got := Analyze(pts, o); got != want {
			t.Fatalf("case %d (%d points): Analyze\n%+v, reference\n%+v", i, len(pts), got, want)
		}
		samples := make([]Sample, len(pts))
		for j, p := range pts {
			samples[j] = Sample{T: p.T.UnixNano(), V: p.V}
		}
		if got := a.Analyze(samples, o); got != want {
			t.Fatalf("case %d: a reused Analyzer\n%+v, reference\n%+v", i, got, want)
		}
		got := a.Leak(samples, o)
		if got.Leak != want.Leak || got.Reason != want.Reason || got.Enough != want.Enough || got.Confidence != want.Confidence ||
			got.Restarts != want.Restarts || got.Last != want.Last {
			t.Fatalf("case %d: Leak\n%+v, reference\n%+v", i, got, want)
		}
		if got.Leak && (got.SlopePerHour != want.SlopePerHour || got.RecentSlopePerHour != want.RecentSlopePerHour) {
			t.Fatalf("case %d: Leak's slopes %v %v, reference %v %v", i, got.SlopePerHour, got.RecentSlopePerHour, want.SlopePerHour, want.RecentSlopePerHour)
		}
	}
}

// BenchmarkAnalyzer14DaysHourly: what the history rules judge per
// container over 14 days (336 hourly maxima, 120 of them fitted), with a
// reused Analyzer; leak and flat series.
func BenchmarkAnalyzer14DaysHourly(b *testing.B) {
	for _, tc := range []struct {
		name string
		f    func(h float64) float64
	}{
		{"leak", func(h float64) float64 { return 200*mi + 2*mi*h }},
		{"flat", func(float64) float64 { return 300 * mi }},
	} {
		r := rand.New(rand.NewPCG(1, 2))
		var samples []Sample
		for h := range 14 * 24 {
			samples = append(samples, Sample{T: t0.Add(time.Duration(h) * time.Hour).UnixNano(), V: tc.f(float64(h)) + r.NormFloat64()*5*mi})
		}
		o := DefaultOptions()
		o.MaxFit, o.MinSlope = 120, 1*mi
		for _, leaksOnly := range []bool{false, true} {
			name := tc.name + "/Analyze"
			if leaksOnly {
				name = tc.name + "/Leak"
			}
			b.Run(name, func(b *testing.B) {
				var a Analyzer
				for range b.N {
					if leaksOnly {
						a.Leak(samples, o)
					} else {
						a.Analyze(samples, o)
					}
				}
			})
		}
	}
}

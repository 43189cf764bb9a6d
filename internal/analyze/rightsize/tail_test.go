package rightsize

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// bursty is days of samples every step at base MiB with bursts arriving
// at perDay (Poisson), each lasting 5 minutes (at least a sample) at
// base + size(r) MiB.
func bursty(days int, step time.Duration, base, perDay float64, seed uint64, size func(r *rand.Rand) float64) Pod {
	r := rand.New(rand.NewPCG(seed, 11))
	p := Pod{Name: "web-1"}
	left, height := 0, 0.0
	perStep := perDay * step.Hours() / 24
	for i := range days * int(24*time.Hour/step) {
		if left == 0 && r.Float64() < perStep {
			left, height = max(1, int(5*time.Minute/step)), size(r)
		}
		v := base
		if left > 0 {
			v += height
			left--
		}
		tm := t0.Add(time.Duration(i) * step)
		p.Memory = append(p.Memory, Sample{T: tm, V: v * mi})
		p.CPU = append(p.CPU, Sample{T: tm, V: 0.1})
	}
	return p
}

// exponential burst sizes: 60 MiB plus an exponential of mean 100 MiB.
func expBurst(r *rand.Rand) float64 { return 60 + 100*r.ExpFloat64() }

func TestBurstTailEstimatesTheExponentialReturnLevel(t *testing.T) {
	o := DefaultOptions()
	o.TailConfidence = 0.5 // the point estimate, to compare with the truth
	// 14 days of bursts at 3 a day over 400 MiB, above a 450 MiB request.
	// Over the median burst the heights are exponential of mean 100 MiB
	// (memoryless), arriving at 1.5 a day: the level exceeded with
	// probability 1% in 30 days is u + 100 × ln(1.5 × 30 / −ln 0.99).
	var errs []float64
	for seed := range uint64(20) {
		p := bursty(14, 5*time.Minute, 400, 3, seed, expBurst)
		tail := burstTail([]Pod{p}, 450*mi, 14*24*time.Hour, o)
		if tail.Bursts < 25 || tail.Bursts > 60 || tail.Level == 0 {
			t.Fatalf("seed %d: %+v, want about 42 bursts and a level", seed, tail)
		}
		want := tail.Threshold + 100*mi*math.Log(1.5*30/-math.Log(0.99))
		errs = append(errs, (tail.Level-want)/(want-tail.Threshold))
	}
	// The mean excess of ~20 bursts has a standard error of ~22%: the
	// typical error is about that, and on average the estimate is
	// unbiased.
	mean, abs := 0.0, make([]float64, len(errs))
	for i, e := range errs {
		mean += e / float64(len(errs))
		abs[i] = math.Abs(e)
	}
	slices.Sort(abs)
	if med := abs[len(abs)/2]; med > 0.25 {
		t.Errorf("levels off by %.0f%% of the excess (median), want ≤ 25%%: %.2f", 100*med, errs)
	}
	if math.Abs(mean) > 0.15 {
		t.Errorf("levels off by %.0f%% on average, want unbiased: %.2f", 100*mean, errs)
	}
}

// TestBurstTailCoversTheNextMonth is the promise the defaults make: from
// two weeks of exponential bursts (5-minute maxima, as the CLI reads
// 14 days), the limit is exceeded by a burst of the
// next 30 days at most about 1% of the time (less, as the mean excess is
// taken at its upper 90% bound).
func TestBurstTailCoversTheNextMonth(t *testing.T) {
	o := DefaultOptions()
	const trials = 200
	exceeded := 0
	for seed := range uint64(trials) {
		p := bursty(14, 5*time.Minute, 400, 3, seed, expBurst)
		r := Recommend(Input{Pods: []Pod{p}}, o)
		if !r.Enough || r.Leak {
			t.Fatalf("seed %d: %+v", seed, r)
		}
		future := rand.New(rand.NewPCG(seed, 99))
		for range 90 { // 30 days at 3 a day
			if (400+expBurst(future))*mi > float64(r.MemoryLimit) {
				exceeded++
				break
			}
		}
	}
	if exceeded > trials*3/100 {
		t.Errorf("the next 30 days' bursts exceeded the limit in %d of %d trials, want about 1%% or less", exceeded, trials)
	}
	// The peak + 25% alone would not have covered them.
	o.TailMinBursts = math.MaxInt
	plain := 0
	for seed := range uint64(trials) {
		r := Recommend(Input{Pods: []Pod{bursty(14, 5*time.Minute, 400, 3, seed, expBurst)}}, o)
		future := rand.New(rand.NewPCG(seed, 99))
		for range 90 {
			if (400+expBurst(future))*mi > float64(r.MemoryLimit) {
				plain++
				break
			}
		}
	}
	t.Logf("exceeded: with the tail %d of %d trials, peak + 25%% alone %d", exceeded, trials, plain)
	if plain <= 2*exceeded || plain < trials/20 {
		t.Errorf("peak + 25%%: %d of %d trials exceeded, tail: %d — the test no longer shows what the tail is for", plain, trials, exceeded)
	}
}

func TestBurstTailRaisesTheLimitOnlyForVaryingBursts(t *testing.T) {
	o := DefaultOptions()
	heavy := Recommend(Input{Pods: []Pod{bursty(14, time.Minute, 400, 4, 1, func(r *rand.Rand) float64 {
		return 250 * math.Exp(0.4*r.NormFloat64()) // the eval's bursty web
	})}}, o)
	if !heavy.TailLimit || float64(heavy.MemoryLimit) <= 1.25*heavy.Stats.MemoryPeak {
		t.Errorf("lognormal bursts: limit %d MiB, peak %.0f MiB, tail %+v: want the tail above peak + 25%%",
			heavy.MemoryLimit/mi, heavy.Stats.MemoryPeak/mi, heavy.Stats.Tail)
	}
	if !strings.Contains(heavy.Reason, "burst tail") {
		t.Errorf("reason %q does not say the limit is from the burst tail", heavy.Reason)
	}

	for _, c := range []struct {
		name string
		p    Pod
	}{
		// Steady with noise: nothing above the request but noise.
		{"steady", pod("a-1", t0, 14*24, time.Minute, 8, 1, flat(500))},
		// A daily cycle is not a tail: it stays under its p90 + 10%.
		{"daily cycle", pod("a-1", t0, 14*24, time.Minute, 10, 2, func(h float64) float64 {
			return 700 + 300*math.Sin(2*math.Pi*h/24)
		})},
		// Bursts that always reach the same height: the excess over the
		// median burst is noise, the tail level is near the peak.
		{"same-height bursts", bursty(14, time.Minute, 300, 6, 3, func(r *rand.Rand) float64 { return 1200 + 5*r.NormFloat64() })},
	} {
		r := Recommend(Input{Pods: []Pod{c.p}}, o)
		if r.TailLimit || float64(r.MemoryLimit) > 1.26*r.Stats.MemoryPeak+mi {
			t.Errorf("%s: limit %d MiB from peak %.0f MiB, tail %+v: want peak + 25%%", c.name, r.MemoryLimit/mi, r.Stats.MemoryPeak/mi, r.Stats.Tail)
		}
	}
}

func TestBurstTailNeedsEnoughBursts(t *testing.T) {
	o := DefaultOptions()
	// Five bursts are not a tail sample.
	p := bursty(14, time.Minute, 400, 0, 1, nil)
	for i, at := range []int{100, 3000, 6000, 9000, 12000} {
		for k := range 5 {
			p.Memory[at+k].V = float64(700+200*i) * mi
		}
	}
	if tail := burstTail([]Pod{p}, 450*mi, 14*24*time.Hour, o); tail.Bursts != 5 || tail.Level != 0 {
		t.Errorf("five bursts: %+v, want them counted and no level", tail)
	}
	if tail := burstTail([]Pod{p}, 450*mi, 0, o); tail.Level != 0 {
		t.Errorf("no span: %+v", tail)
	}
}

func TestAppendBursts(t *testing.T) {
	s := func(minute int, v float64) Sample {
		return Sample{T: t0.Add(time.Duration(minute) * time.Minute), V: v}
	}
	series := []Sample{
		s(0, 1), s(1, 5), s(2, 9), s(3, 1), s(4, 7), // one burst dipping for a sample: peak 9
		s(60, 1), s(61, 6), s(62, 1), // an hour later, another: 6
		s(120, 10), // a burst at the last sample: 10
	}
	got := appendBursts(nil, series, 2, 30*time.Minute)
	if len(got) != 3 || got[0] != 9 || got[1] != 6 || got[2] != 10 {
		t.Errorf("bursts %v, want [9 6 10]", got)
	}
	// Pods are separate: another pod's burst is its own.
	got = appendBursts(got, []Sample{s(121, 4)}, 2, 30*time.Minute)
	if len(got) != 4 {
		t.Errorf("bursts %v, want a fourth from the second series", got)
	}
}

func TestChi2Quantile(t *testing.T) {
	for _, c := range []struct{ p, nu, want float64 }{
		{0.1, 4, 1.0636}, {0.1, 10, 4.8652}, {0.1, 40, 29.051}, {0.5, 20, 19.337}, {0.9, 6, 10.645},
	} {
		if got := chi2Quantile(c.p, c.nu); math.Abs(got-c.want)/c.want > 0.015 {
			t.Errorf("χ²(%v; %v) = %.4f, want %.4f", c.p, c.nu, got, c.want)
		}
	}
}

package rightsize

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const mi = 1 << 20

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// pod samples memory f(h) (MiB) and CPU 0.1 cores every step for hours,
// with Gaussian noise of sd MiB.
func pod(name string, start time.Time, hours float64, step time.Duration, sd float64, seed uint64, f func(h float64) float64) Pod {
	r := rand.New(rand.NewPCG(seed, 3))
	p := Pod{Name: name}
	for d := time.Duration(0); d.Hours() < hours; d += step {
		h := d.Hours()
		t := start.Add(d)
		p.Memory = append(p.Memory, Sample{T: t, V: math.Max(0, (f(h)+r.NormFloat64()*sd)*mi)})
		p.CPU = append(p.CPU, Sample{T: t, V: 0.1 + 0.02*r.Float64()})
	}
	return p
}

func flat(v float64) func(float64) float64 { return func(float64) float64 { return v } }

func TestSteadyAndSpiky(t *testing.T) {
	o := DefaultOptions()
	steady := Recommend(Input{Pods: []Pod{pod("web-1", t0, 72, time.Minute, 5, 1, flat(300))}}, o)
	if !steady.Enough || steady.Leak || steady.Spiky {
		t.Fatalf("steady: %+v", steady)
	}
	// Request within 15% above the level, limit above the peak with headroom.
	if got := float64(steady.MemoryRequest) / mi; got < 300 || got > 345 {
		t.Errorf("steady request %.0f MiB, want 300–345", got)
	}
	if float64(steady.MemoryLimit) < 1.25*steady.Stats.MemoryPeak {
		t.Errorf("steady limit %d under the peak %.0f + 25%%", steady.MemoryLimit, steady.Stats.MemoryPeak)
	}
	if steady.CPURequest < 100 || steady.CPURequest > 120 || steady.CPULimit != 0 {
		t.Errorf("CPU request %dm (want 100–120m), limit %dm (want none unless asked)", steady.CPURequest, steady.CPULimit)
	}

	// 10 minutes at 1.5 GiB every 3 hours over a 200 MiB base.
	spiky := Recommend(Input{Pods: []Pod{pod("batch-1", t0, 72, time.Minute, 3, 2, func(h float64) float64 {
		if math.Mod(h*60, 180) < 10 {
			return 1536
		}
		return 200
	})}}, o)
	if !spiky.Spiky || spiky.Leak {
		t.Fatalf("spiky: %+v", spiky)
	}
	if got := float64(spiky.MemoryRequest) / mi; got > 260 {
		t.Errorf("spiky request %.0f MiB: should sit near the 200 MiB steady level, not at the 1.5 GiB spike", got)
	}
	if got := float64(spiky.MemoryLimit) / mi; got < 1536*1.2 {
		t.Errorf("spiky limit %.0f MiB: should be above the spikes with headroom", got)
	}
	if !strings.Contains(spiky.Reason, "spiky") {
		t.Errorf("reason %q does not explain the spiky sizing", spiky.Reason)
	}

	o.CPULimit = true
	withCPU := Recommend(Input{Pods: []Pod{pod("web-1", t0, 72, time.Minute, 5, 1, flat(300))}}, o)
	if withCPU.CPULimit < withCPU.CPURequest || withCPU.CPULimit == 0 {
		t.Errorf("asked for a CPU limit, got %dm with request %dm", withCPU.CPULimit, withCPU.CPURequest)
	}
}

// killedAt is a pod that wants want MiB but is capped (and OOM-killed) at
// its limit, once an hour: what the history shows of a cap below the peak.
func killedAt(name string, start time.Time, limit, want float64) Pod {
	p := pod(name, start, 24, time.Minute, 2, 9, func(h float64) float64 {
		if math.Mod(h, 1) > 0.9 {
			return want
		}
		return 200
	})
	p.MemoryLimit = limit * mi
	for i, s := range p.Memory {
		if s.V > p.MemoryLimit {
			p.Memory[i].V = p.MemoryLimit
			if len(p.OOMKills) == 0 || s.T.Sub(p.OOMKills[len(p.OOMKills)-1]) > 10*time.Minute {
				p.OOMKills = append(p.OOMKills, s.T)
			}
		}
	}
	return p
}

func TestOOMBumpIsBounded(t *testing.T) {
	o := DefaultOptions()
	// One day killed at 400 MiB every hour: every kill is at the same
	// ceiling, so the bump escalates, but stops at the cap (×2).
	one := Recommend(Input{Pods: []Pod{killedAt("a-1", t0, 400, 900)}}, o)
	if one.OOMEpisodes != 24 || !one.OOMCapped {
		t.Fatalf("episodes %d capped %v, want 24 episodes at the cap: %+v", one.OOMEpisodes, one.OOMCapped, one)
	}
	if one.Stats.MemoryNeed != 800*mi {
		t.Errorf("need %.0f MiB, want 400 MiB × the 2× cap", one.Stats.MemoryNeed/mi)
	}
	if one.ConfidenceLevel != Low || !strings.Contains(one.Reason, "cap") {
		t.Errorf("a capped bump must say so with low confidence: %s %q", one.ConfidenceLevel, one.Reason)
	}

	// A crash loop (kills a minute apart) is one episode: one ×1.2 step.
	loop := pod("b-1", t0, 6, time.Minute, 1, 4, flat(250))
	loop.MemoryLimit = 256 * mi
	for i := range 20 {
		loop.OOMKills = append(loop.OOMKills, t0.Add(5*time.Hour+time.Duration(i)*time.Minute))
	}
	r := Recommend(Input{Pods: []Pod{loop}}, o)
	if r.OOMEpisodes != 1 || r.OOMCapped {
		t.Fatalf("crash loop: %d episodes, capped %v", r.OOMEpisodes, r.OOMCapped)
	}
	if want := 256.0 + 64; r.Stats.MemoryNeed != want*mi {
		t.Errorf("crash loop need %.0f MiB, want max(256×1.2, 256+64) = %.0f", r.Stats.MemoryNeed/mi, want)
	}

	// Applying the recommendation and being killed again at the new limit
	// starts from that limit: the limit grows with the evidence, day by day,
	// and each step is bounded.
	limit := 400.0
	for day := range 5 {
		p := killedAt("c", t0.Add(time.Duration(day)*24*time.Hour), limit, 900)
		rec := Recommend(Input{Pods: []Pod{p}}, o)
		next := float64(rec.MemoryLimit) / mi
		if next <= limit || next > limit*o.MaxOOMBump*(1+o.LimitHeadroom)+1 {
			t.Fatalf("day %d: limit %.0f → %.0f MiB, want a rise bounded by ×%.1f", day, limit, next, o.MaxOOMBump*(1+o.LimitHeadroom))
		}
		if len(p.OOMKills) == 0 {
			if rec.OOMEpisodes != 0 {
				t.Errorf("day %d: no kills, %d episodes", day, rec.OOMEpisodes)
			}
			break
		}
		limit = next
	}
	if limit < 900 {
		t.Errorf("after the loop the limit %.0f MiB is still under the 900 MiB the workload needs", limit)
	}

	// A restart at the limit without an OOM event counts as one.
	silent := pod("d-1", t0, 6, time.Minute, 1, 5, flat(300))
	silent.MemoryLimit = 310 * mi
	silent.Restarts = []time.Time{t0.Add(3*time.Hour + 30*time.Second)}
	if r := Recommend(Input{Pods: []Pod{silent}}, o); r.OOMEpisodes != 1 {
		t.Errorf("restart at the limit: %d OOM episodes, want 1", r.OOMEpisodes)
	}
	silent.MemoryLimit = 1024 * mi
	if r := Recommend(Input{Pods: []Pod{silent}}, o); r.OOMEpisodes != 0 {
		t.Errorf("restart far below the limit: %d OOM episodes, want 0", r.OOMEpisodes)
	}
}

func TestLeakGetsNoSize(t *testing.T) {
	r := Recommend(Input{Pods: []Pod{pod("jvm-1", t0, 24, time.Minute, 4, 6, func(h float64) float64 { return 200 + 40*h })}}, DefaultOptions())
	if !r.Leak || r.MemoryRequest != 0 || r.MemoryLimit != 0 || !strings.Contains(r.Reason, "jvm-1") {
		t.Fatalf("leak: %+v", r)
	}
}

// runs are batch runs of minutes, n a day, each filling up to peak(i) MiB.
func runs(days, perDay int, minutes float64, peak func(i int) float64) []Pod {
	var out []Pod
	for i := range days * perDay {
		start := t0.Add(time.Duration(i) * 24 * time.Hour / time.Duration(perDay))
		pk := peak(i)
		out = append(out, pod("job", start, minutes/60, 30*time.Second, 1, uint64(i), func(h float64) float64 {
			return 50 + (pk-50)*h*60/minutes
		}))
	}
	return out
}

func TestBatchRuns(t *testing.T) {
	o := DefaultOptions()
	// 6 runs a day of 8 minutes, each growing to 700–800 MiB and ending:
	// not a leak, every run counted.
	r := Recommend(Input{Batch: true, Pods: runs(7, 6, 8, func(i int) float64 { return 700 + float64(i%5)*25 })}, o)
	if r.Leak || !r.Enough || r.Stats.Pods != 42 {
		t.Fatalf("batch runs: %+v", r)
	}
	if r.Stats.MemoryPeak < 740*mi || float64(r.MemoryLimit) < 1.25*r.Stats.MemoryPeak {
		t.Errorf("batch limit %d MiB, want above the largest run's peak (%.0f MiB, ~753) with headroom", r.MemoryLimit/mi, r.Stats.MemoryPeak/mi)
	}
	if r.ConfidenceLevel != High {
		t.Errorf("42 runs over 7 days: confidence %s (%.2f)", r.ConfidenceLevel, r.Confidence)
	}
	// Without Batch, the same runs look like a leak with restarts: that is
	// why Jobs are judged across runs.
	leaky := Recommend(Input{Batch: true, Pods: runs(7, 6, 8, func(i int) float64 { return 300 + 30*float64(i) })}, o)
	if !leaky.Leak || !strings.Contains(leaky.Reason, "each run peaks higher") {
		t.Errorf("runs peaking higher and higher: %+v", leaky)
	}
}

func TestConfidenceGrowsWithHistory(t *testing.T) {
	o := DefaultOptions()
	var last float64
	for _, hours := range []float64{2, 24, 72, 7 * 24} {
		r := Recommend(Input{Pods: []Pod{pod("w", t0, hours, 5*time.Minute, 2, 7, flat(100))}}, o)
		if r.Confidence <= last {
			t.Errorf("%v h: confidence %.2f, not above %.2f for less history", hours, r.Confidence, last)
		}
		last = r.Confidence
	}
	if level(last) != High {
		t.Errorf("a week of dense samples: %s", level(last))
	}
	// Gaps (a daemon down half the time) lower it.
	p := pod("w", t0, 7*24, 5*time.Minute, 2, 7, flat(100))
	p.Memory = p.Memory[:len(p.Memory)/4]
	p.Memory = append(p.Memory, pod("w", t0.Add(6*24*time.Hour), 24, 5*time.Minute, 2, 8, flat(100)).Memory...)
	if r := Recommend(Input{Pods: []Pod{p}}, o); r.Confidence >= last*0.6 {
		t.Errorf("gappy week: confidence %.2f, want well under %.2f", r.Confidence, last)
	}
}

func TestBadInput(t *testing.T) {
	o := DefaultOptions()
	cases := []struct {
		name   string
		in     Input
		reason string
	}{
		{"nothing", Input{}, "not enough data: 0 memory samples"},
		{"nil pods", Input{Pods: []Pod{{}, {Name: "x"}}}, "not enough data"},
		{"short", Input{Pods: []Pod{pod("s", t0, 0.5, time.Minute, 1, 1, flat(10))}}, "not enough data: 29m0s of history"},
		{"garbage", Input{Pods: []Pod{{Name: "g", MemoryLimit: math.NaN(), OOMKills: []time.Time{t0},
			Memory: []Sample{{t0, math.NaN()}, {t0, math.Inf(1)}, {t0, -1}}}}}, "not enough data: 0 memory samples"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Recommend(tc.in, o)
			if r.Enough || r.MemoryRequest != 0 || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("%+v, want no size and a reason with %q", r, tc.reason)
			}
		})
	}
	// NaNs among good samples are dropped, not propagated.
	p := pod("n", t0, 12, time.Minute, 1, 1, flat(100))
	p.Memory[5].V, p.CPU[7].V = math.NaN(), math.Inf(1)
	if r := Recommend(Input{Pods: []Pod{p}}, o); r.MemoryRequest <= 0 || r.MemoryRequest > 120*mi || r.CPURequest > 200 {
		t.Errorf("NaN/Inf samples leaked into %+v", r)
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.RequestPercentile, o.OOMBump, o.MaxOOMBump, o.MinSamples, o.OOMEpisodeGap = 1.5, 1, 0.5, 0, 0
	o.TailRisk, o.TailConfidence, o.TailHorizon, o.TailMinBursts = 1, 0.3, 0, 2
	err := o.Validate()
	for _, field := range []string{"requestPercentile", "oomBump", "maxOOMBump", "minSamples", "oomEpisodeGap", "tailRisk", "tailConfidence", "tailHorizon", "tailMinBursts"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
}

func BenchmarkRecommend14Days(b *testing.B) {
	// One container, 14 days of 30 s samples (40,320), daily cycle + noise.
	p := pod("web-1", t0, 14*24, 30*time.Second, 8, 1, func(h float64) float64 {
		return 400 + 150*math.Sin(2*math.Pi*h/24)
	})
	o := DefaultOptions()
	b.ReportAllocs()
	for b.Loop() {
		if r := Recommend(Input{Pods: []Pod{p}}, o); !r.Enough {
			b.Fatal(r.Reason)
		}
	}
}

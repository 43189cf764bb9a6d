package eval

import (
	"math"
	"math/rand/v2"
	"time"
)

// Trace is a container's true demand over time, sampled every Step:
// what it would use with no limit.
type Trace struct {
	Name string
	// Leak marks the trace that truly leaks (the one where sizing is not
	// the answer); Batch a Job/CronJob whose pods are runs.
	Leak, Batch bool
	Start       time.Time
	Step        time.Duration
	// Memory in bytes and CPU in cores; Run is the run (pod) a sample
	// belongs to for batch traces, −1 between runs.
	Memory, CPU []float64
	Run         []int
	// Growth is bytes per step added since the container last started: a
	// leak that an OOM kill resets.
	Growth float64
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

// Epoch is the start of every trace.
var Epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Traces returns the seven synthetic traces, days long at step, generated
// deterministically from seed.
func Traces(days int, step time.Duration, seed uint64) []Trace {
	mk := func(name string, i uint64, f func(r *rand.Rand, h float64) (mem, cpu float64)) Trace {
		r := rand.New(rand.NewPCG(seed, i)) //nolint:gosec // G404: synthetic traces, reproducible from the seed
		t := Trace{Name: name, Start: Epoch, Step: step}
		n := int(time.Duration(days) * 24 * time.Hour / step)
		for k := range n {
			h := (time.Duration(k) * step).Hours()
			m, c := f(r, h)
			t.Memory = append(t.Memory, math.Max(m, 0))
			t.CPU = append(t.CPU, math.Max(c, 0))
		}
		return t
	}
	day := func(h float64) float64 { return math.Sin(2 * math.Pi * (h - 6) / 24) } // peak at noon

	steady := mk("steady", 1, func(r *rand.Rand, _ float64) (float64, float64) {
		return 512*mib + r.NormFloat64()*8*mib, 0.20 + r.NormFloat64()*0.02
	})
	// Traffic with a daily and a weekly cycle (weekends at 60%), growing
	// 3% a week.
	cycle := mk("daily cycle", 2, func(r *rand.Rand, h float64) (float64, float64) {
		week := 1.0
		if d := int(h/24) % 7; d == 5 || d == 6 {
			week = 0.6
		}
		g := 1 + 0.03*h/(7*24)
		return g * (700*mib + 300*mib*week*day(h) + r.NormFloat64()*12*mib), g * (0.35 + 0.25*week*day(h) + r.NormFloat64()*0.03)
	})
	// Every 4 h a 15-minute step over a 300 MiB base, its height set by
	// the input: lognormal around 1.5 GiB (σ 0.12), at most 2.2 GiB.
	spiky := mk("spiky batch", 3, func(r *rand.Rand, h float64) (float64, float64) {
		if math.Mod(h*60, 240) < 15 {
			in := rand.New(rand.NewPCG(seed, 1000+uint64(h/4))) //nolint:gosec // G404: synthetic traces, reproducible from the seed
			top := math.Min(1.5*gib*math.Exp(0.12*in.NormFloat64()), 2.2*gib)
			return top + r.NormFloat64()*10*mib, 1.5 + r.NormFloat64()*0.1
		}
		return 300*mib + r.NormFloat64()*6*mib, 0.08 + r.NormFloat64()*0.01
	})
	// A web service with a daily cycle and random bursts (about 4 a day, of
	// 2–20 minutes, +1 core, and a heavy-tailed memory cost: lognormal
	// around 250 MiB, σ 0.4, at most 900 MiB — the concurrency limit).
	var burstLeft, burstSize float64
	bursty := mk("bursty web", 4, func(r *rand.Rand, h float64) (float64, float64) {
		m := 450*mib + 60*mib*day(h) + r.NormFloat64()*10*mib
		c := 0.3 + 0.1*day(h) + r.NormFloat64()*0.03
		if burstLeft <= 0 && r.Float64() < 4.0/(24*60/step.Minutes()) {
			burstLeft, burstSize = 2+r.Float64()*18, math.Min(250*mib*math.Exp(0.4*r.NormFloat64()), 900*mib)
		}
		if burstLeft > 0 {
			burstLeft -= step.Minutes()
			m += burstSize
			c += 1
		}
		return m, c
	})
	// A cache filling over the first two days to 1.2 GiB, then flat.
	warm := mk("slow warm-up", 5, func(r *rand.Rand, h float64) (float64, float64) {
		return 200*mib + 1000*mib*(1-math.Exp(-h/12)) + r.NormFloat64()*10*mib, 0.25 + r.NormFloat64()*0.03
	})
	// The story's JVM: +12 MiB/h from 300 MiB until it is killed.
	leaky := mk("leak", 6, func(r *rand.Rand, _ float64) (float64, float64) {
		return 300*mib + r.NormFloat64()*6*mib, 0.15 + r.NormFloat64()*0.02
	})
	leaky.Leak, leaky.Growth = true, 12*mib*step.Hours()
	return []Trace{steady, cycle, spiky, bursty, warm, leaky, cronJob(days, step, seed)}
}

// cronJob runs six times a day (every 4 h, up to 5 minutes late), each run
// 4–12 minutes long, filling from 80 MiB to a peak of 600–900 MiB at one
// core.
func cronJob(days int, step time.Duration, seed uint64) Trace {
	r := rand.New(rand.NewPCG(seed, 7)) //nolint:gosec // G404: synthetic traces, reproducible from the seed
	n := int(time.Duration(days) * 24 * time.Hour / step)
	t := Trace{Name: "CronJob runs", Batch: true, Start: Epoch, Step: step,
		Memory: make([]float64, n), CPU: make([]float64, n), Run: make([]int, n)}
	for i := range t.Run {
		t.Run[i] = -1
	}
	run := 0
	for start := time.Duration(0); start < time.Duration(days)*24*time.Hour; start += 4 * time.Hour {
		begin := start + time.Duration(r.Float64()*5*float64(time.Minute))
		length := 4*time.Minute + time.Duration(r.Float64()*8*float64(time.Minute))
		peak := 600*mib + r.Float64()*300*mib
		for d := time.Duration(0); d < length; d += step {
			k := int((begin + d) / step)
			if k >= n {
				break
			}
			f := float64(d+step) / float64(length)
			t.Memory[k] = 80*mib + (peak-80*mib)*math.Min(f, 1) + r.NormFloat64()*4*mib
			t.CPU[k] = 1 + r.NormFloat64()*0.05
			t.Run[k] = run
		}
		run++
	}
	return t
}

package rightsize

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
)

const mib = 1 << 20

// Sample is one value at one time: working-set bytes or CPU cores.
type Sample struct {
	T time.Time
	V float64
}

// Pod is one pod's history of the container being sized: one replica, or
// one run of a Job.
type Pod struct {
	Name string
	// Memory is the working set in bytes, CPU the usage in cores (a rate).
	Memory, CPU []Sample
	// OOMKills are the times the container was OOM-killed; Restarts the
	// times it restarted for any reason (OOM kills may be among them).
	OOMKills, Restarts []time.Time
	// MemoryLimit is the limit the pod ran with in bytes, 0 for none.
	MemoryLimit float64
	// MemoryRequest (bytes) and CPURequest (cores) are the requests it ran
	// with, 0 for none: not used by Recommend, kept for comparisons.
	MemoryRequest, CPURequest float64
}

// Input is a workload container's history.
type Input struct {
	// Batch is true for Jobs and CronJobs: every pod is a run.
	Batch bool
	Pods  []Pod
}

// Options are the algorithm's parameters (see the package doc).
type Options struct {
	RequestPercentile, RequestMargin float64
	LimitHeadroom                    float64
	LimitMinHeadroom                 float64 // bytes
	OOMBump, MaxOOMBump              float64
	OOMMinBump                       float64 // bytes
	OOMEpisodeGap                    time.Duration
	// TailRisk is the chance a burst may exceed the limit within
	// TailHorizon; TailConfidence the one-sided confidence the bursts'
	// mean excess is taken at; TailMinBursts the fewest bursts (excursions
	// above the request) to estimate the tail from (see burstTail).
	TailRisk, TailConfidence float64
	TailHorizon              time.Duration
	TailMinBursts            int
	CPUPercentile            float64
	// CPULimit asks for a CPU limit too.
	CPULimit bool
	// MinMemory (bytes) and MinCPU (cores) are the least recommended.
	MinMemory, MinCPU float64
	// MinSamples and MinSpan are the least history to recommend from.
	MinSamples int
	MinSpan    time.Duration
	// FullSpan and FullRuns are the history that earns full confidence.
	FullSpan time.Duration
	FullRuns int
	// Leak are the leak detector's options.
	Leak leak.Options
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		RequestPercentile: 0.90, RequestMargin: 0.10,
		LimitHeadroom: 0.25, LimitMinHeadroom: 32 * mib,
		OOMBump: 1.2, MaxOOMBump: 2, OOMMinBump: 64 * mib, OOMEpisodeGap: 30 * time.Minute,
		TailRisk: 0.01, TailHorizon: 30 * 24 * time.Hour, TailConfidence: 0.9, TailMinBursts: 6,
		CPUPercentile: 0.90,
		MinMemory:     16 * mib, MinCPU: 0.001,
		MinSamples: 20, MinSpan: time.Hour,
		FullSpan: 7 * 24 * time.Hour, FullRuns: 14,
		Leak: leak.DefaultOptions(),
	}
}

// Validate names every bad field.
func (o Options) Validate() error {
	var errs []error
	frac := func(name string, v float64) {
		if !(v > 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be in (0, 1], got %v", name, v))
		}
	}
	nonneg := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("%s: must be a finite number ≥ 0, got %v", name, v))
		}
	}
	frac("requestPercentile", o.RequestPercentile)
	frac("cpuPercentile", o.CPUPercentile)
	nonneg("requestMargin", o.RequestMargin)
	nonneg("limitHeadroom", o.LimitHeadroom)
	nonneg("limitMinHeadroom", o.LimitMinHeadroom)
	nonneg("oomMinBump", o.OOMMinBump)
	nonneg("minMemory", o.MinMemory)
	nonneg("minCPU", o.MinCPU)
	if !(o.OOMBump > 1) {
		errs = append(errs, fmt.Errorf("oomBump: must be > 1, got %v", o.OOMBump))
	}
	if !(o.MaxOOMBump >= o.OOMBump) {
		errs = append(errs, fmt.Errorf("maxOOMBump: must be ≥ oomBump (%v), got %v", o.OOMBump, o.MaxOOMBump))
	}
	if !(o.TailRisk > 0 && o.TailRisk < 1) {
		errs = append(errs, fmt.Errorf("tailRisk: must be in (0, 1), got %v", o.TailRisk))
	}
	if !(o.TailConfidence >= 0.5 && o.TailConfidence < 1) {
		errs = append(errs, fmt.Errorf("tailConfidence: must be in [0.5, 1), got %v", o.TailConfidence))
	}
	if o.TailHorizon <= 0 {
		errs = append(errs, fmt.Errorf("tailHorizon: must be positive, got %s", o.TailHorizon))
	}
	if o.TailMinBursts < 4 {
		errs = append(errs, fmt.Errorf("tailMinBursts: at least 4, got %d", o.TailMinBursts))
	}
	if o.OOMEpisodeGap <= 0 {
		errs = append(errs, fmt.Errorf("oomEpisodeGap: must be positive, got %s", o.OOMEpisodeGap))
	}
	if o.MinSamples < 2 {
		errs = append(errs, fmt.Errorf("minSamples: at least 2, got %d", o.MinSamples))
	}
	if o.MinSpan <= 0 || o.FullSpan < o.MinSpan {
		errs = append(errs, fmt.Errorf("minSpan, fullSpan: need 0 < minSpan ≤ fullSpan, got %s and %s", o.MinSpan, o.FullSpan))
	}
	if o.FullRuns < 1 {
		errs = append(errs, fmt.Errorf("fullRuns: at least 1, got %d", o.FullRuns))
	}
	if err := o.Leak.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("leak: %w", err))
	}
	return errors.Join(errs...)
}

// Confidence levels.
const (
	Low    = "low"
	Medium = "medium"
	High   = "high"
)

// Recommendation is the result for one workload container. Sizes are zero
// unless Enough and not Leak.
type Recommendation struct {
	// Enough is false when the history is too short; Reason says why.
	Enough bool `json:"enoughData"`
	// Leak is true when the working set grows without bound: no size.
	Leak   bool   `json:"leak"`
	Reason string `json:"reason"`

	MemoryRequest int64 `json:"memoryRequestBytes"`
	MemoryLimit   int64 `json:"memoryLimitBytes"`
	// CPURequest and CPULimit are in millicores; CPULimit is 0 unless asked.
	CPURequest int64 `json:"cpuRequestMillicores"`
	CPULimit   int64 `json:"cpuLimitMillicores,omitempty"`

	Confidence      float64 `json:"confidence"`
	ConfidenceLevel string  `json:"confidenceLevel"`

	// Spiky is true when the peak is well above the request (the limit
	// covers the spikes, the request the steady level).
	Spiky bool `json:"spiky"`
	// OOMEpisodes counts the OOM kills (and restarts at the limit) grouped
	// into episodes; OOMCapped is true when the bump reached MaxOOMBump.
	OOMEpisodes int  `json:"oomEpisodes"`
	OOMCapped   bool `json:"oomCapped"`
	// TailLimit is true when the limit is the burst tail's level (the
	// bursts vary so much that the peak plus headroom is not enough).
	TailLimit bool `json:"tailLimit"`

	Stats Stats `json:"stats"`
}

// Stats are the numbers the recommendation was derived from.
type Stats struct {
	Samples   int           `json:"samples"`
	Span      time.Duration `json:"span"`
	Pods      int           `json:"pods"`
	MemoryP50 float64       `json:"memoryP50Bytes"`
	MemoryP90 float64       `json:"memoryP90Bytes"`
	// MemoryPeak is the highest sample; MemoryNeed the peak the limit is
	// set from (higher after OOM kills).
	MemoryPeak float64 `json:"memoryPeakBytes"`
	MemoryNeed float64 `json:"memoryNeedBytes"`
	CPUP90     float64 `json:"cpuP90Cores"`
	CPUPeak    float64 `json:"cpuPeakCores"`
	// Tail is the estimate of how high bursts above the request can go.
	Tail Tail `json:"tail"`
}

// Recommend sizes one workload container from its history.
func Recommend(in Input, o Options) Recommendation {
	var r Recommendation
	pods := cleanPods(in.Pods)
	nMem, nCPU := 0, 0
	for _, p := range pods {
		nMem, nCPU = nMem+len(p.Memory), nCPU+len(p.CPU)
	}
	mem, cpu := make([]float64, 0, nMem), make([]float64, 0, nCPU)
	var first, last time.Time
	for _, p := range pods {
		for _, s := range p.Memory {
			mem = append(mem, s.V)
			if first.IsZero() || s.T.Before(first) {
				first = s.T
			}
			if s.T.After(last) {
				last = s.T
			}
		}
		for _, s := range p.CPU {
			cpu = append(cpu, s.V)
		}
	}
	r.Stats.Samples, r.Stats.Pods = len(mem), len(pods)
	r.Stats.Span = last.Sub(first)
	if len(mem) < o.MinSamples {
		r.Reason = fmt.Sprintf("not enough data: %d memory samples, need %d", len(mem), o.MinSamples)
		return r
	}
	if r.Stats.Span < o.MinSpan {
		r.Reason = fmt.Sprintf("not enough data: %s of history, need %s", r.Stats.Span.Round(time.Second), o.MinSpan)
		return r
	}
	r.Enough = true
	if reason, leaking := findLeak(pods, in.Batch, o.Leak); leaking {
		r.Leak, r.Reason = true, reason
		return r
	}

	slices.Sort(mem)
	r.Stats.MemoryP50 = percentile(mem, 0.5)
	r.Stats.MemoryP90 = percentile(mem, 0.9)
	r.Stats.MemoryPeak = mem[len(mem)-1]
	request := percentile(mem, o.RequestPercentile) * (1 + o.RequestMargin)

	need, episodes, capped := oomNeed(pods, o)
	r.OOMEpisodes, r.OOMCapped = episodes, capped
	r.Stats.MemoryNeed = max(r.Stats.MemoryPeak, need)
	limit := r.Stats.MemoryNeed + max(r.Stats.MemoryNeed*o.LimitHeadroom, o.LimitMinHeadroom)
	r.Stats.Tail = burstTail(pods, request, r.Stats.Span, o)
	if r.Stats.Tail.Level > limit {
		limit, r.TailLimit = r.Stats.Tail.Level, true
	}

	r.MemoryRequest = roundUp(max(request, o.MinMemory), mib)
	r.MemoryLimit = max(roundUp(limit, mib), r.MemoryRequest)
	r.Spiky = r.Stats.MemoryPeak > 1.3*request

	if len(cpu) > 0 {
		slices.Sort(cpu)
		r.Stats.CPUP90 = percentile(cpu, 0.9)
		r.Stats.CPUPeak = cpu[len(cpu)-1]
		r.CPURequest = millis(max(percentile(cpu, o.CPUPercentile), o.MinCPU))
		if o.CPULimit {
			r.CPULimit = max(millis(r.Stats.CPUPeak*(1+o.LimitHeadroom)), r.CPURequest)
		}
	} else {
		r.CPURequest = millis(o.MinCPU)
	}

	r.Confidence = confidence(pods, in.Batch, r.Stats.Span, len(mem), o)
	if capped {
		r.Confidence = min(r.Confidence, 0.3)
	}
	r.ConfidenceLevel = level(r.Confidence)
	r.Reason = reason(r, in.Batch)
	return r
}

func reason(r Recommendation, batch bool) string {
	s := fmt.Sprintf("request from p90 of %d samples over %s", r.Stats.Samples, span(r.Stats.Span))
	if batch {
		s += fmt.Sprintf(" (%d runs)", r.Stats.Pods)
	}
	s += fmt.Sprintf(", limit from the peak %.0f MiB", r.Stats.MemoryPeak/mib)
	if r.OOMEpisodes > 0 {
		s += fmt.Sprintf(" raised to %.0f MiB for %d OOM episode(s)", r.Stats.MemoryNeed/mib, r.OOMEpisodes)
	}
	if r.TailLimit {
		t := r.Stats.Tail
		s += fmt.Sprintf("; limit raised to %.0f MiB for the burst tail (%d bursts above the request, the %d above %.0f MiB by %.0f MiB on average)",
			t.Level/mib, t.Bursts, t.Over, t.Threshold/mib, t.MeanExcess/mib)
	}
	if r.OOMCapped {
		s += "; the OOM bump reached its cap: if it is still killed, the real peak is unknown — look at the workload before raising further"
	}
	if r.Spiky {
		s += "; spiky: the request covers the steady level, the limit the spikes"
	}
	return s
}

func span(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.0fd", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}

// cleanPods drops bad samples and sorts each series by time.
func cleanPods(in []Pod) []Pod {
	out := make([]Pod, 0, len(in))
	for _, p := range in {
		p.Memory, p.CPU = clean(p.Memory), clean(p.CPU)
		if len(p.Memory) == 0 && len(p.CPU) == 0 && len(p.OOMKills) == 0 {
			continue
		}
		if math.IsNaN(p.MemoryLimit) || math.IsInf(p.MemoryLimit, 0) || p.MemoryLimit < 0 {
			p.MemoryLimit = 0
		}
		out = append(out, p)
	}
	return out
}

// clean returns s without NaN, infinite or negative values, sorted by
// time: s itself when that is what it is already (nothing here writes to
// a pod's samples), a copy otherwise.
func clean(s []Sample) []Sample {
	bad := func(p Sample) bool { return math.IsNaN(p.V) || math.IsInf(p.V, 0) || p.V < 0 }
	ordered := true
	for i, p := range s {
		if bad(p) || (i > 0 && !s[i-1].T.Before(p.T)) {
			ordered = false
			break
		}
	}
	if ordered {
		return s
	}
	out := slices.DeleteFunc(slices.Clone(s), bad)
	slices.SortFunc(out, func(a, b Sample) int { return a.T.Compare(b.T) })
	return out
}

// maxLeakPoints bounds the series given to the leak detector: its rolling
// median costs O(n·w); it is sampled evenly in time as a PromQL range query
// would.
const maxLeakPoints = 1440

// findLeak judges each pod's working set, or for batch workloads the series
// of run peaks.
func findLeak(pods []Pod, batch bool, o leak.Options) (string, bool) {
	// Only the leaks matter here: Analyzer.Leak stops at the trend test
	// for the many series that do not grow.
	var a leak.Analyzer
	if batch {
		var peaks []leak.Sample
		for _, p := range pods {
			if len(p.Memory) == 0 {
				continue
			}
			top := slices.MaxFunc(p.Memory, func(a, b Sample) int { return cmp.Compare(a.V, b.V) })
			peaks = append(peaks, leak.Sample{T: top.T.UnixNano(), V: top.V})
		}
		if v := a.Leak(peaks, o); v.Leak {
			return "leak: each run peaks higher: " + v.Reason, true
		}
		return "", false
	}
	for _, c := range chains(pods) {
		if v := a.Leak(thin(c.samples, maxLeakPoints), o); v.Leak {
			return fmt.Sprintf("leak in pod %s: %s", c.last, v.Reason), true
		}
	}
	return "", false
}

type chain struct {
	samples []Sample
	last    string
}

// chains joins pods that follow one another (a rollout replaces a pod,
// the next one starts after it ends) into one series, as a restart would:
// a leak that a rollout resets and that grows again is the same leak.
// Replicas that run side by side make separate chains.
func chains(pods []Pod) []chain {
	sorted := slices.Clone(pods)
	sorted = slices.DeleteFunc(sorted, func(p Pod) bool { return len(p.Memory) == 0 })
	slices.SortFunc(sorted, func(a, b Pod) int { return a.Memory[0].T.Compare(b.Memory[0].T) })
	var out []chain
next:
	for _, p := range sorted {
		for i := range out {
			if c := &out[i]; c.samples[len(c.samples)-1].T.Before(p.Memory[0].T) {
				c.samples, c.last = append(c.samples, p.Memory...), p.Name
				continue next
			}
		}
		// The pod's samples, at capacity: a pod joining the chain
		// appends to a copy.
		out = append(out, chain{samples: slices.Clip(p.Memory), last: p.Name})
	}
	return out
}

func thin(s []Sample, n int) []leak.Sample {
	if len(s) == 0 {
		return nil
	}
	if len(s) <= n {
		out := make([]leak.Sample, len(s))
		for i, p := range s {
			out[i] = leak.Sample{T: p.T.UnixNano(), V: p.V}
		}
		return out
	}
	out := make([]leak.Sample, 0, n)
	start, step := s[0].T, s[len(s)-1].T.Sub(s[0].T)/time.Duration(n-1)
	j := 0
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		for j+1 < len(s) && !s[j+1].T.After(at) {
			j++
		}
		if len(out) == 0 || out[len(out)-1].T != s[j].T.UnixNano() {
			out = append(out, leak.Sample{T: s[j].T.UnixNano(), V: s[j].V})
		}
	}
	return out
}

// oomNeed returns the peak implied by OOM kills (0 without any), the number
// of episodes and whether the bump hit its cap.
func oomNeed(pods []Pod, o Options) (need float64, episodes int, capped bool) {
	type kill struct {
		t     time.Time
		level float64
	}
	var kills []kill
	for _, p := range pods {
		for _, t := range p.OOMKills {
			kills = append(kills, kill{t, killLevel(p, t, o.OOMEpisodeGap)})
		}
		for _, t := range p.Restarts {
			if p.MemoryLimit <= 0 || slices.ContainsFunc(p.OOMKills, func(k time.Time) bool { return absDur(k.Sub(t)) < time.Minute }) {
				continue
			}
			if before, ok := lastBefore(p.Memory, t); ok && before >= 0.9*p.MemoryLimit {
				kills = append(kills, kill{t, killLevel(p, t, o.OOMEpisodeGap)})
			}
		}
	}
	if len(kills) == 0 {
		return 0, 0, false
	}
	slices.SortFunc(kills, func(a, b kill) int { return a.t.Compare(b.t) })
	// Episodes: kills closer than the gap are one; an episode's level is the
	// highest of its kills.
	var levels []float64
	for i, k := range kills {
		if i > 0 && k.t.Sub(kills[i-1].t) < o.OOMEpisodeGap {
			levels[len(levels)-1] = max(levels[len(levels)-1], k.level)
			continue
		}
		levels = append(levels, k.level)
	}
	top := slices.Max(levels)
	n := 0
	for _, l := range levels {
		if l >= 0.95*top {
			n++
		}
	}
	factor := math.Pow(o.OOMBump, float64(n))
	need = max(top*factor, top+o.OOMMinBump)
	if need >= top*o.MaxOOMBump {
		need, capped = top*o.MaxOOMBump, true
	}
	return need, len(levels), capped
}

// killLevel is the memory a kill happened at: the limit in force, or
// without one the highest sample in the gap before the kill.
func killLevel(p Pod, t time.Time, gap time.Duration) float64 {
	if p.MemoryLimit > 0 {
		return p.MemoryLimit
	}
	level := 0.0
	for _, s := range p.Memory {
		if !s.T.Before(t.Add(-gap)) && !s.T.After(t) {
			level = max(level, s.V)
		}
	}
	return level
}

func lastBefore(s []Sample, t time.Time) (float64, bool) {
	i, _ := slices.BinarySearchFunc(s, t, func(p Sample, t time.Time) int { return p.T.Compare(t) })
	if i == 0 {
		return 0, false
	}
	return s[i-1].V, true
}

func confidence(pods []Pod, batch bool, span time.Duration, samples int, o Options) float64 {
	c := min(1, span.Seconds()/o.FullSpan.Seconds())
	if batch {
		return c * min(1, float64(len(pods))/float64(o.FullRuns))
	}
	// Density: the share of each pod's life covered by samples at their
	// usual interval (gaps in scraping lower it).
	n := 0
	for _, p := range pods {
		n += max(0, len(p.Memory)-1)
	}
	gaps := make([]float64, 0, n)
	for _, p := range pods {
		for i := 1; i < len(p.Memory); i++ {
			gaps = append(gaps, p.Memory[i].T.Sub(p.Memory[i-1].T).Seconds())
		}
	}
	if len(gaps) == 0 || span <= 0 {
		return 0
	}
	slices.Sort(gaps)
	interval := percentile(gaps, 0.5)
	var lived float64
	for _, p := range pods {
		if len(p.Memory) > 0 {
			lived += p.Memory[len(p.Memory)-1].T.Sub(p.Memory[0].T).Seconds() + interval
		}
	}
	return c * min(1, float64(samples)*interval/lived)
}

func level(c float64) string {
	switch {
	case c >= 0.75:
		return High
	case c >= 0.4:
		return Medium
	default:
		return Low
	}
}

// percentile of sorted xs, interpolated linearly between ranks.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[i] + (xs[i+1]-xs[i])*(pos-float64(i))
}

func roundUp(v, unit float64) int64 {
	if v >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(math.Ceil(v/unit) * unit)
}

func millis(cores float64) int64 { return max(roundUp(cores*1000, 1), 1) }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

package eval

import (
	"math"
	"slices"
	"time"
)

// VPA approximates the target recommendation of the Vertical Pod
// Autoscaler's recommender (kubernetes/autoscaler,
// vertical-pod-autoscaler/pkg/recommender) with its default flags:
//
//   - memory: one sample per container per 24 h aggregation interval, the
//     interval's peak (model/container.go addMemorySample;
//     DefaultMemoryAggregationInterval = 24h, DefaultMemoryAggregationIntervalCount
//     = 8 in model/aggregations_config.go), kept in a histogram whose
//     weights decay with a 24 h half-life (DefaultMemoryHistogramDecayHalfLife);
//     target = the histogram's p90 (targetMemoryPeaksPercentile in
//     logic/recommender.go) × 1.15 (--recommendation-margin-fraction 0.15);
//   - an OOM kill adds a peak of max(used × 1.2, used + 100 MiB), where used
//     is max(the memory request, the interval's peak so far)
//     (ContainerState.RecordOOM; DefaultOOMBumpUpRatio, DefaultOOMMinBumpUp);
//   - CPU: every usage sample in a histogram weighted by max(request,
//     0.1 core) with the same 24 h decay; target = p90 × 1.15;
//   - histograms are exponential: first bucket 10 MB (memory) or 0.001 core
//     (CPU), each 5 % wider (DefaultHistogramBucketSizeGrowth), and a
//     percentile is the end of the bucket it falls in (util/histogram.go);
//   - pod minimums 250 MiB and 25 millicores (--pod-recommendation-min-memory-mb,
//     --pod-recommendation-min-cpu-millicores), one container per pod here.
//
// Approximations, said plainly: the histograms are rebuilt from the stored
// history at each recommendation instead of being updated sample by sample
// and checkpointed; intervals are aligned to the first sample; samples
// older than 8 days (the aggregation window) are dropped where VPA lets
// their weight decay to near zero (2⁻⁸ ≈ 0.4 %); the updater is taken to
// apply the target once a day (the real one evicts when the request leaves
// [lowerBound, upperBound]); and the memory limit keeps the template's
// limit/request ratio, taken as 1 (request = limit, the usual Guaranteed
// memory setup; VPA sets no limit where the template has none, but then
// no OOM could be counted against it).
type VPA struct{}

var _ Strategy = VPA{}

// Name implements Strategy.
func (VPA) Name() string { return "VPA" }

const (
	vpaInterval   = 24 * time.Hour
	vpaIntervals  = 8
	vpaHalfLife   = 24 * time.Hour
	vpaMargin     = 0.15
	vpaPercentile = 0.9
	vpaOOMRatio   = 1.2
	vpaOOMMin     = 100 << 20
	vpaMinMemory  = 250 << 20
	vpaMinCPU     = 0.025
)

// Recommend implements Strategy.
func (VPA) Recommend(h History, now time.Time) Sizes {
	from := now.Add(-vpaInterval * vpaIntervals)
	var first time.Time
	for _, p := range h.Pods {
		if len(p.Memory) > 0 && (first.IsZero() || p.Memory[0].T.Before(first)) {
			first = p.Memory[0].T
		}
	}
	if first.IsZero() {
		return Sizes{}
	}
	// Peaks per interval, with OOM-derived samples.
	peaks := map[int64]float64{}
	interval := func(t time.Time) int64 { return int64(t.Sub(first) / vpaInterval) }
	for _, p := range h.Pods {
		for _, s := range p.Memory {
			if !s.T.Before(from) {
				k := interval(s.T)
				peaks[k] = max(peaks[k], s.V)
			}
		}
	}
	for _, p := range h.Pods {
		for _, t := range p.OOMKills {
			if t.Before(from) {
				continue
			}
			k := interval(t)
			sofar := 0.0
			for _, s := range p.Memory {
				if interval(s.T) == k && !s.T.After(t) {
					sofar = max(sofar, s.V)
				}
			}
			used := max(p.MemoryLimit, sofar) // request = limit
			peaks[k] = max(peaks[k], max(used*vpaOOMRatio, used+vpaOOMMin))
		}
	}
	mem := newHistogram(1e7)
	for k, v := range peaks {
		end := first.Add(time.Duration(k+1) * vpaInterval)
		mem.add(v, decay(end, now))
	}
	cpu := newHistogram(0.001)
	for _, p := range h.Pods {
		weight := 0.1
		if p.CPURequest > 0 {
			weight = max(p.CPURequest, 0.1)
		}
		for _, s := range p.CPU {
			if !s.T.Before(from) {
				cpu.add(s.V, weight*decay(s.T, now))
			}
		}
	}
	m := max(mem.percentile(vpaPercentile)*(1+vpaMargin), vpaMinMemory)
	c := max(cpu.percentile(vpaPercentile)*(1+vpaMargin), vpaMinCPU)
	return Sizes{OK: true, MemoryRequest: m, MemoryLimit: m, CPURequest: c}
}

func decay(t, now time.Time) float64 {
	return math.Exp2(t.Sub(now).Hours() / vpaHalfLife.Hours())
}

// histogram is VPA's exponential bucketing: bucket i starts at
// first × (1.05^i − 1) / 0.05.
type histogram struct {
	first   float64
	weights map[int]float64
	total   float64
}

const growth = 1.05

func newHistogram(first float64) *histogram {
	return &histogram{first: first, weights: map[int]float64{}}
}

func (h *histogram) start(i int) float64 {
	return h.first * (math.Pow(growth, float64(i)) - 1) / (growth - 1)
}

func (h *histogram) add(v, w float64) {
	i := int(math.Floor(math.Log(1+v*(growth-1)/h.first) / math.Log(growth)))
	i = max(i, 0)
	h.weights[i] += w
	h.total += w
}

// percentile is the end of the bucket where the cumulative weight reaches
// q of the total.
func (h *histogram) percentile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	keys := make([]int, 0, len(h.weights))
	for k := range h.weights {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sum := 0.0
	for _, k := range keys {
		sum += h.weights[k]
		if sum >= q*h.total {
			return h.start(k + 1)
		}
	}
	return h.start(keys[len(keys)-1] + 1)
}

// KRR is Robusta KRR's "simple" strategy (robusta-dev/krr,
// robusta_krr/strategies/simple.py, defaults of SimpleStrategySettings):
// memory request = limit = the maximum over the history + 15 %
// (memory_buffer_percentage); CPU request = the p95 of usage
// (cpu_percentile), no CPU limit; history_duration 336 h (14 days); no
// recommendation under 100 data points (points_required). Its experimental
// use_oomkill_data (off by default) is not modelled.
type KRR struct{}

var _ Strategy = KRR{}

// Name implements Strategy.
func (KRR) Name() string { return "KRR" }

// Recommend implements Strategy.
func (KRR) Recommend(h History, now time.Time) Sizes {
	from := now.Add(-336 * time.Hour)
	peak, n := 0.0, 0
	var cpu []float64
	for _, p := range h.Pods {
		for _, s := range p.Memory {
			if !s.T.Before(from) {
				peak, n = max(peak, s.V), n+1
			}
		}
		for _, s := range p.CPU {
			if !s.T.Before(from) {
				cpu = append(cpu, s.V)
			}
		}
	}
	if n < 100 || len(cpu) < 100 {
		return Sizes{}
	}
	slices.Sort(cpu)
	m := peak * 1.15
	return Sizes{OK: true, MemoryRequest: m, MemoryLimit: m, CPURequest: linear(cpu, 0.95)}
}

// linear is numpy's default percentile: linear between closest ranks.
func linear(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (sorted[i+1]-sorted[i])*(pos-float64(i))
}

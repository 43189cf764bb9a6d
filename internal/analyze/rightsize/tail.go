package rightsize

import (
	"math"
	"slices"
	"time"
)

// Tail is what the burst tail estimate found (see burstTail).
type Tail struct {
	// Bursts counts the excursions above the request (episodes); Over the
	// ones whose peak is above Threshold, the median burst peak.
	Bursts int `json:"bursts"`
	Over   int `json:"burstsOverMedian"`
	// Threshold is the median burst peak and MeanExcess the mean height of
	// the bursts above it (bytes): the exponential tail's scale.
	Threshold  float64 `json:"thresholdBytes"`
	MeanExcess float64 `json:"meanExcessBytes"`
	// Level is the peak a burst exceeds with probability TailRisk within
	// TailHorizon (bytes); 0 when there were too few bursts to say.
	Level float64 `json:"levelBytes"`
}

// burstTail estimates how high the container's bursts can go, peaks over
// threshold style, so that the limit covers a burst larger than any seen.
//
// A burst is an excursion of the working set above the request; samples
// above it less than gap apart are one burst (a burst that dips for a
// scrape is one event, not two), and its size is its peak. Bursts are taken
// per pod and pooled. The bursts above the median burst peak u are the tail
// sample: their heights above u are taken as exponential, whose maximum
// likelihood scale is their mean excess σ. Bursts above u arrive at a rate
// λ (per day of history, all pods together), so the chance that none in a
// horizon T exceeds u + y is exp(−λ·T·e^(−y/σ)), and the level a burst
// exceeds with probability α within T is
//
//	u + σ · ln(λ·T / −ln(1−α))
//
// — the return level of a peaks-over-threshold model with an exponential
// (generalised Pareto, shape 0) tail. Shape 0 is the Gumbel domain:
// normal, lognormal and gamma-like burst sizes. It overestimates the level
// of bursts that are bounded (a batch step that always reaches about the
// same height: a limit higher than needed, which reserves nothing) and can
// underestimate a Pareto-like tail, where the OOM bump takes over; the
// shape is not estimated, because with the tens of bursts a week of
// history holds its estimate swings the level by a factor of two either
// way. The mean excess is known from k bursts only; σ is taken at the
// upper end of its one-sided confidence interval (conf), so a week with few
// or small bursts does not set a low limit: 2kσ̂/σ is χ² with 2k degrees of
// freedom.
//
// With fewer than minBursts bursts there is no tail to speak of (a steady
// or smoothly cycling workload stays under its request): Level is 0 and
// the limit is the peak plus headroom alone.
func burstTail(pods []Pod, threshold float64, span time.Duration, o Options) Tail {
	var peaks []float64
	for _, p := range pods {
		peaks = appendBursts(peaks, p.Memory, threshold, o.OOMEpisodeGap)
	}
	t := Tail{Bursts: len(peaks)}
	if len(peaks) < o.TailMinBursts || span <= 0 {
		return t
	}
	slices.Sort(peaks)
	t.Threshold = percentile(peaks, 0.5)
	var sum float64
	for _, v := range peaks {
		if v > t.Threshold {
			sum += v - t.Threshold
			t.Over++
		}
	}
	if t.Over < 2 {
		return t
	}
	k := float64(t.Over)
	t.MeanExcess = sum / k
	sigma := t.MeanExcess * 2 * k / chi2Quantile(1-o.TailConfidence, 2*k)
	rate := k / (span.Hours() / 24) // per day
	n := rate * o.TailHorizon.Hours() / 24 / -math.Log1p(-o.TailRisk)
	t.Level = t.Threshold + sigma*math.Log(max(n, 1))
	return t
}

// appendBursts appends the peak of each excursion of s above threshold;
// excursions less than gap apart are one.
func appendBursts(peaks []float64, s []Sample, threshold float64, gap time.Duration) []float64 {
	var last time.Time
	in := false
	for _, p := range s {
		if p.V <= threshold {
			continue
		}
		if in && p.T.Sub(last) < gap {
			peaks[len(peaks)-1] = max(peaks[len(peaks)-1], p.V)
		} else {
			peaks = append(peaks, p.V)
		}
		in, last = true, p.T
	}
	return peaks
}

// chi2Quantile is the p quantile of a χ² distribution with nu degrees of
// freedom, by the Wilson–Hilferty cube approximation (within 1% of the
// exact value from 4 degrees of freedom on, which is where it is used).
func chi2Quantile(p, nu float64) float64 {
	z := math.Sqrt2 * math.Erfinv(2*p-1)
	a := 2 / (9 * nu)
	return nu * math.Pow(max(1-a+z*math.Sqrt(a), 0.01), 3)
}

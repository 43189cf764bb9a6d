// Package eval replays synthetic usage traces through recommendation
// strategies — nodewatch's (package rightsize) and the published formulas
// of VPA's recommender and KRR's simple strategy — in a closed loop, and
// measures each one's waste (reserved minus used) and risk (time above the
// request, OOM events). It is what `make eval-recommend` runs and what
// docs/recommend-eval.md reports; its tests hold nodewatch to the goals.
//
// The replay is rolling, not a single train/test split: the first
// Warmup days run with no limits (the workload as it was deployed, fully
// observed); then every Every (a day) each strategy recommends from the
// history it has seen so far, the recommendation is applied (a rollout: new
// pods with the new request and limit), and the next day is scored against
// the trace. A sample whose demand exceeds the limit in force is an OOM
// event; the strategy then sees that sample capped at the limit, and an OOM
// kill, exactly as the history would record it. So each strategy lives with
// the consequences of its own recommendations, including its OOM handling.
package eval

import (
	"time"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
)

// History is what a strategy sees when it recommends: the observed usage
// of every pod so far (censored at the limits in force), OOM kills, and
// the limit each pod ran with.
type History struct {
	Batch bool
	Pods  []rightsize.Pod
}

// Sizes are a recommendation: bytes and cores. OK is false when the
// strategy gives none (too little history); Leak when it flags a leak
// instead.
type Sizes struct {
	MemoryRequest, MemoryLimit float64
	CPURequest                 float64
	OK, Leak                   bool
}

// Strategy recommends from a history at a time.
type Strategy interface {
	Name() string
	Recommend(h History, now time.Time) Sizes
}

// Nodewatch is package rightsize with its options, over the last Window of
// history (nodewatch's retention, 14 days).
type Nodewatch struct {
	Options rightsize.Options
	Window  time.Duration
}

var _ Strategy = Nodewatch{}

// Name implements Strategy.
func (Nodewatch) Name() string { return "nodewatch" }

// Recommend implements Strategy.
func (n Nodewatch) Recommend(h History, now time.Time) Sizes {
	r := rightsize.Recommend(rightsize.Input{Batch: h.Batch, Pods: window(h.Pods, now.Add(-n.Window))}, n.Options)
	switch {
	case r.Leak:
		return Sizes{Leak: true}
	case !r.Enough:
		return Sizes{}
	}
	return Sizes{OK: true, MemoryRequest: float64(r.MemoryRequest), MemoryLimit: float64(r.MemoryLimit), CPURequest: float64(r.CPURequest) / 1000}
}

// window keeps the samples and kills at or after from.
func window(pods []rightsize.Pod, from time.Time) []rightsize.Pod {
	var out []rightsize.Pod
	for _, p := range pods {
		q := p
		q.Memory, q.CPU = since(p.Memory, from), since(p.CPU, from)
		q.OOMKills = nil
		for _, t := range p.OOMKills {
			if !t.Before(from) {
				q.OOMKills = append(q.OOMKills, t)
			}
		}
		if len(q.Memory) > 0 || len(q.OOMKills) > 0 {
			out = append(out, q)
		}
	}
	return out
}

func since(s []rightsize.Sample, from time.Time) []rightsize.Sample {
	for i, p := range s {
		if !p.T.Before(from) {
			return s[i:]
		}
	}
	return nil
}

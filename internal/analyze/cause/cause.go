// Package cause names the likely cause of a node failure from the history
// of the hours before it: the pod on the node whose memory grew (a leak, by
// package leak's robust trend), with or without a memory limit, how much it
// held at the failure, and whether the node thrashed — its major page faults
// in the last minutes against its own baseline. The sentence it writes goes
// into the alert, as in "likely cause: emails/ReplicationController/
// unanswered-emails — +1.1 GiB/h for 5h, no memory limit, 3.9 GiB at
// failure; major page faults ×40 in the 5 min before".
package cause

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/health"
)

// History is the resource history (history.DB or history.Remote).
type History interface {
	Query(ctx context.Context, q string, at time.Time) (parser.Value, error)
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error)
}

// Options tune the analysis.
type Options struct {
	// Lookback is how much history before the failure is read (6 h).
	Lookback time.Duration
	// Recent is the window before the failure compared with the baseline
	// for page faults (5 min).
	Recent time.Duration
	// MinGrowth is the least growth, in bytes per hour, that can make a pod
	// the cause (50 MiB/h).
	MinGrowth float64
	// FaultRatio is how many times its baseline the node's major-page-fault
	// rate must reach to count as thrashing (5), above MinFaultRate (10/s).
	FaultRatio, MinFaultRate float64
	Leak                     leak.Options
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	lo := leak.DefaultOptions()
	lo.MinPoints = 10
	o := Options{Lookback: 6 * time.Hour, Recent: 5 * time.Minute, MinGrowth: 50 << 20, FaultRatio: 5, MinFaultRate: 10, Leak: lo}
	return o.WithMinHistory(10 * time.Minute)
}

// WithMinHistory sets the least history of growth that can name a pod,
// the spike filter to a quarter of it, and the page-fault window to half
// of it (at most 5 minutes).
func (o Options) WithMinHistory(d time.Duration) Options {
	o.Leak.MinSpan, o.Leak.SpikeWindow, o.Recent = d, d/4, min(5*time.Minute, d/2)
	return o
}

// Analyze explains the failure of node at `at`, given the pods bound to it
// then. It returns nil when the history shows nothing to blame (no pod
// grew, no thrashing), or too little history to say; an error only when
// the history cannot be read.
func Analyze(ctx context.Context, h History, node string, at time.Time, pods []health.PodReport, o Options) (*health.Cause, error) {
	// The raw samples, not a range query: after a node dies its last value
	// would be repeated for the lookback delta and read as a plateau.
	q := fmt.Sprintf(`container_memory_working_set_bytes{node=%q,container!="",container!="POD"}[%ds]`, node, int(o.Lookback.Seconds()))
	v, err := h.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("reading the memory of %s's pods: %w", node, err)
	}
	byPod := map[string]*health.PodReport{}
	for i := range pods {
		byPod[pods[i].Namespace+"/"+pods[i].Name] = &pods[i]
	}
	type candidate struct {
		pod     *health.PodReport
		verdict leak.Verdict
		span    time.Duration
		score   float64
	}
	var cands []candidate
	m, _ := v.(promql.Matrix)
	for _, s := range m {
		p := byPod[s.Metric.Get("namespace")+"/"+s.Metric.Get("pod")]
		if p == nil || len(s.Floats) == 0 {
			continue // not on the node at failure time
		}
		pts := make([]leak.Point, len(s.Floats))
		for i, f := range s.Floats {
			pts[i] = leak.Point{T: time.UnixMilli(f.T), V: f.F}
		}
		verdict := leak.Analyze(pts, o.Leak)
		if !verdict.Enough || verdict.SlopePerHour < o.MinGrowth || !verdict.Leak {
			continue
		}
		score := verdict.SlopePerHour
		if p.MemoryLimit == nil {
			score *= 2 // nothing stopped it before the node ran out
		}
		cands = append(cands, candidate{pod: p, verdict: verdict, span: pts[len(pts)-1].T.Sub(pts[0].T), score: score})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.pod.Name, b.pod.Name))
	})
	spikes, err := FaultSpikes(ctx, h, fmt.Sprintf("node=%q", node), at, o.Recent)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", node, err)
	}
	spike := spikes[node]
	thrashing := spike.Thrashing(o.FaultRatio, o.MinFaultRate)
	if len(cands) == 0 && !thrashing {
		return nil, nil
	}
	c := &health.Cause{}
	var parts []string
	if len(cands) > 0 {
		top := cands[0]
		p := top.pod
		c.Namespace, c.Kind, c.Name, c.Pod = p.Namespace, p.Owner.Kind, p.Owner.Name, p.Name
		if c.Kind == "" {
			c.Kind, c.Name = "Pod", p.Name
		}
		c.GrowthBytesPerHour, c.GrowthSeconds = top.verdict.SlopePerHour, top.span.Seconds()
		c.MemoryAtFailure, c.MemoryLimit = int64(top.verdict.Last), p.MemoryLimit
		limit := "no memory limit"
		if p.MemoryLimit != nil {
			limit = "limit " + human(float64(*p.MemoryLimit))
		}
		parts = append(parts, fmt.Sprintf("%s/%s/%s — +%s/h for %s, %s, %s at failure", c.Namespace, c.Kind, c.Name,
			human(top.verdict.SlopePerHour), span(top.span), limit, human(top.verdict.Last)))
		for _, other := range cands[1:] {
			if other.pod != p && len(c.Evidence) < 2 {
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s/%s also grew +%s/h", other.pod.Namespace, other.pod.Name, human(other.verdict.SlopePerHour)))
			}
		}
	}
	if thrashing {
		c.PageFaultsPerSecond = spike.Recent
		if !math.IsInf(spike.Ratio, 1) {
			c.PageFaultRatio = spike.Ratio // left 0 after a baseline of none (JSON has no infinity)
		}
		parts = append(parts, spike.Describe(o.Recent))
	}
	c.Summary = strings.Join(parts, "; ")
	return c, nil
}

// Spike is a node's major-page-fault rate in a recent window against its
// baseline.
type Spike struct {
	// Recent is the peak rate (faults/s) in the recent window; Baseline the
	// median rate before it; Ratio is Recent/Baseline (+Inf after a
	// baseline of zero, 0 when there is no baseline to compare with).
	Recent, Baseline, Ratio float64
}

// Thrashing reports whether the spike reaches ratio times its baseline and
// at least minRate faults a second.
func (s Spike) Thrashing(ratio, minRate float64) bool { return s.Recent >= minRate && s.Ratio >= ratio }

// FaultSpikes reads the major-page-fault rate of the nodes matching sel (a
// PromQL label matcher list such as `node="n1"`, or "" for all) over the
// hour before at, and returns each node's spike over the last `recent`.
func FaultSpikes(ctx context.Context, h History, sel string, at time.Time, recent time.Duration) (map[string]Spike, error) {
	return rateSpikes(ctx, h, `container_memory_failures_total{failure_type="pgmajfault",id="/"`, "major page faults", sel, at, recent)
}

// DiskReadSpikes is FaultSpikes for the nodes' disk reads (bytes/s of the
// root cgroup): the story's thrashing showed as both at once.
func DiskReadSpikes(ctx context.Context, h History, sel string, at time.Time, recent time.Duration) (map[string]Spike, error) {
	return rateSpikes(ctx, h, `container_fs_reads_bytes_total{id="/"`, "disk reads", sel, at, recent)
}

// rateSpikes reads a counter's per-node rate over the hour before at (the
// selector's closing brace is added here, after sel).
func rateSpikes(ctx context.Context, h History, selector, what, sel string, at time.Time, recent time.Duration) (map[string]Spike, error) {
	if sel != "" {
		sel = "," + sel
	}
	q := fmt.Sprintf(`max by (node) (rate(%s%s}[2m]))`, selector, sel)
	v, err := h.QueryRange(ctx, q, at.Add(-time.Hour), at, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	out := map[string]Spike{}
	m, _ := v.(promql.Matrix)
	for _, series := range m {
		var sp Spike
		var base []float64
		for _, f := range series.Floats {
			if time.UnixMilli(f.T).After(at.Add(-recent)) {
				sp.Recent = max(sp.Recent, f.F)
			} else {
				base = append(base, f.F)
			}
		}
		if len(base) > 0 {
			slices.Sort(base)
			sp.Baseline = base[len(base)/2]
			switch {
			case sp.Baseline > 0:
				sp.Ratio = sp.Recent / sp.Baseline
			case sp.Recent > 0:
				sp.Ratio = math.Inf(1)
			}
		}
		out[series.Metric.Get("node")] = sp
	}
	return out, nil
}

// Describe says how a spike compares with the baseline, for messages.
func (s Spike) Describe(recent time.Duration) string {
	if math.IsInf(s.Ratio, 1) {
		return fmt.Sprintf("major page faults from none to %.0f/s in the %s before", s.Recent, span(recent))
	}
	return fmt.Sprintf("major page faults ×%.0f in the %s before (%.0f/s)", s.Ratio, span(recent), s.Recent)
}

func human(bytes float64) string {
	if math.Abs(bytes) >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", bytes/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", bytes/(1<<20))
}

func span(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.0fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.0f min", d.Minutes())
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

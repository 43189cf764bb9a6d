package detect

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/analyze/cause"
	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
)

// Rules over the resource history: proactive alerts before anything fails.
const (
	ContainerLeaking = "ContainerLeaking"
	MemoryExhaustion = "MemoryExhaustion"
	NodeThrashing    = "NodeThrashing"
)

// HistoryScope prefixes the history rules' incident keys.
const HistoryScope = "history/"

// HistoryRules holds the history rules' thresholds.
type HistoryRules struct {
	// LeakWindow is the history judged for leaks; from an hour on, the
	// 5-minute aggregates are read instead of raw samples.
	LeakWindow time.Duration
	// LeakMinGrowth is the least growth, bytes per hour, that alerts.
	LeakMinGrowth float64
	// ExhaustionWithin alerts when a leak will reach its container's limit
	// or fill its node's allocatable memory within this long.
	ExhaustionWithin time.Duration
	// FaultRatio and MinFaultRate make a node thrashing: its major page
	// faults over the last ThrashingWindow at FaultRatio times its baseline
	// (the median of the hour before) and MinFaultRate a second.
	FaultRatio, MinFaultRate float64
	ThrashingWindow          time.Duration
}

// DefaultHistoryRules returns the documented defaults.
func DefaultHistoryRules() HistoryRules {
	return HistoryRules{LeakWindow: 6 * time.Hour, LeakMinGrowth: 100 << 20, ExhaustionWithin: 2 * time.Hour, FaultRatio: 5, MinFaultRate: 10,
		ThrashingWindow: 5 * time.Minute}
}

// Validate names every bad field under prefix.
func (r HistoryRules) Validate(prefix string) error {
	var errs []string
	if r.LeakWindow < 2*time.Minute {
		errs = append(errs, fmt.Sprintf("%s.leakWindow: at least 2m, got %s", prefix, r.LeakWindow))
	}
	if r.LeakMinGrowth <= 0 {
		errs = append(errs, fmt.Sprintf("%s.leakMinGrowthMiBPerHour: must be positive", prefix))
	}
	if r.ExhaustionWithin <= 0 {
		errs = append(errs, fmt.Sprintf("%s.exhaustionWithin: must be positive, got %s", prefix, r.ExhaustionWithin))
	}
	if r.FaultRatio <= 1 || r.MinFaultRate < 0 {
		errs = append(errs, fmt.Sprintf("%s.thrashingFaultRatio: must be above 1 (and thrashingMinFaultRate not negative)", prefix))
	}
	if r.ThrashingWindow < 30*time.Second || r.ThrashingWindow > 30*time.Minute {
		errs = append(errs, fmt.Sprintf("%s.thrashingWindow: between 30s and 30m, got %s", prefix, r.ThrashingWindow))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", joinLines(errs))
	}
	return nil
}

func joinLines(s []string) string {
	out := ""
	for i, l := range s {
		if i > 0 {
			out += "\n"
		}
		out += l
	}
	return out
}

// HistoryQuerier is the resource history (history.DB or history.Remote).
type HistoryQuerier interface {
	Query(ctx context.Context, q string, at time.Time) (parser.Value, error)
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error)
}

// ClusterState is what the history rules read from the cluster: where pods
// run, their limits and owners, the nodes' allocatable memory and
// conditions, and the events kept about a node (SystemOOM).
type ClusterState interface {
	Nodes() []cluster.Node
	Pods() []*cluster.Pod
	Owners() cluster.Owners
	NodeEvents(node string, since time.Time) []NodeEvent
}

// NodeEvent is a Kubernetes event about a node, as nodewatch keeps them.
type NodeEvent struct {
	Time            time.Time
	Reason, Message string
}

// History evaluates the history rules. It keeps what it read of the
// working sets between passes (see leakscan.go), so one History serves one
// caller's passes, one at a time.
type History struct {
	rules HistoryRules
	h     HistoryQuerier
	c     ClusterState
	mu    sync.Mutex // one pass at a time
	scan  *leakScan
}

// NewHistory returns the history rules over h and c.
func NewHistory(rules HistoryRules, h HistoryQuerier, c ClusterState) *History {
	return &History{rules: rules, h: h, c: c, scan: newLeakScan(rules)}
}

type growth struct {
	pod       *cluster.Pod
	container string
	node      string
	verdict   leak.Verdict
	lset      labels.Labels
}

// Evaluate returns the history findings that hold at now: leaking
// workloads (one finding per workload, its fastest container), leaks that
// will exhaust a limit or a node soon, and thrashing nodes.
func (r *History) Evaluate(ctx context.Context, now time.Time) ([]Finding, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The nodes' working sets are read while the leak workers run.
	var free map[string]float64
	var freeErr error
	freeDone := make(chan struct{})
	go func() {
		defer close(freeDone)
		free, freeErr = r.nodeFree(ctx, now)
	}()
	leaks, err := r.leaks(ctx, now)
	<-freeDone
	if err != nil {
		return nil, err
	}
	if freeErr != nil {
		return nil, freeErr
	}
	var out []Finding
	owners := r.c.Owners()
	byWorkload := map[string]growth{}
	for _, g := range leaks {
		o := owners.Resolve(g.pod)
		key := fmt.Sprintf("%sworkload/%s/%s/%s/", HistoryScope, g.pod.Namespace, o.Kind, o.Name)
		if prev, ok := byWorkload[key]; !ok || g.verdict.SlopePerHour > prev.verdict.SlopePerHour {
			byWorkload[key] = g
		}
	}
	for key, g := range byWorkload {
		o := owners.Resolve(g.pod)
		wl := g.pod.Namespace + "/" + o.Kind + "/" + o.Name
		out = append(out, Finding{
			Key: key + "leak", Rule: ContainerLeaking, Severity: Warning, Workload: wl, Reason: "MemoryLeak",
			Message: fmt.Sprintf("%s leaks: container %s of pod %s grows %s/h (confidence %.0f%%), %s now",
				wl, g.container, g.pod.Name, mib(g.verdict.SlopePerHour), 100*g.verdict.Confidence, mib(g.verdict.Last)),
		})
		if f, ok := r.exhaustion(key, wl, g, free); ok {
			out = append(out, f)
		}
	}
	thrashing, err := r.thrashing(ctx, now, free)
	if err != nil {
		return nil, err
	}
	out = append(out, thrashing...)
	slices.SortFunc(out, func(a, b Finding) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// thrashing finds the nodes out of memory: major page faults at
// FaultRatio times their own baseline (the story's thrashing), or the
// kubelet's MemoryPressure together with a kernel OOM kill (a SystemOOM
// event) in the last ThrashingWindow, at least 5 minutes. Each finding
// gives the evidence there is: the fault rate, disk reads against their
// baseline, the working set against allocatable, MemoryPressure, the
// SystemOOM kills and the last victim.
func (r *History) thrashing(ctx context.Context, now time.Time, free map[string]float64) ([]Finding, error) {
	spikes, err := cause.FaultSpikes(ctx, r.h, "", now, r.rules.ThrashingWindow)
	if err != nil {
		return nil, err
	}
	oomWindow := max(r.rules.ThrashingWindow, 5*time.Minute)
	var out []Finding
	var disk map[string]cause.Spike
	for _, n := range r.c.Nodes() {
		sp, faulting := spikes[n.Name]
		faulting = faulting && sp.Thrashing(r.rules.FaultRatio, r.rules.MinFaultRate)
		pressure, underPressure := n.Condition("MemoryPressure")
		underPressure = underPressure && pressure.Status == "True"
		var ooms []NodeEvent
		if faulting || underPressure {
			for _, e := range r.c.NodeEvents(n.Name, now.Add(-oomWindow)) {
				if e.Reason == "SystemOOM" {
					ooms = append(ooms, e)
				}
			}
		}
		if !faulting && (!underPressure || len(ooms) == 0) {
			continue
		}
		var msg, reason string
		if faulting {
			msg, reason = fmt.Sprintf("%s is thrashing: %s", n.Name, sp.Describe(r.rules.ThrashingWindow)), "MajorPageFaults"
			if disk == nil { // only read when some node thrashes
				if disk, err = cause.DiskReadSpikes(ctx, r.h, "", now, r.rules.ThrashingWindow); err != nil {
					return nil, err
				}
			}
			if d, ok := disk[n.Name]; ok && d.Recent > 0 && (d.Ratio >= 2 || math.IsInf(d.Ratio, 1)) {
				msg += fmt.Sprintf("; disk reads %s/s", mib(d.Recent))
				if !math.IsInf(d.Ratio, 1) {
					msg += fmt.Sprintf(" (×%.0f)", d.Ratio)
				}
			}
		} else {
			msg, reason = fmt.Sprintf("%s is out of memory", n.Name), "SystemOOM"
		}
		if f, ok := free[n.Name]; ok && n.AllocatableMemory > 0 {
			msg += fmt.Sprintf("; working set %s of %s allocatable", mib(float64(n.AllocatableMemory)-f), mib(float64(n.AllocatableMemory)))
		}
		if underPressure {
			msg += "; MemoryPressure"
			if !pressure.Since.IsZero() {
				msg += " since " + pressure.Since.UTC().Format("15:04:05")
			}
		}
		if len(ooms) > 0 {
			last := slices.MaxFunc(ooms, func(a, b NodeEvent) int { return a.Time.Compare(b.Time) })
			msg += fmt.Sprintf("; %d SystemOOM kill(s) in the last %s, the last: %s", len(ooms), about(oomWindow), last.Message)
		}
		out = append(out, Finding{
			Key: HistoryScope + "node/" + n.Name + "/thrashing", Rule: NodeThrashing, Severity: Warning, Node: n.Name,
			Reason: reason, Message: msg,
		})
	}
	return out, nil
}

// exhaustion: a leak that reaches its container's limit (an OOM kill) or,
// without one, its node's allocatable memory within ExhaustionWithin.
func (r *History) exhaustion(key, wl string, g growth, free map[string]float64) (Finding, bool) {
	var limit *int64
	for _, c := range g.pod.Containers {
		if c.Name == g.container && !c.Init {
			limit = c.Limits.Memory
		}
	}
	var left float64
	var what string
	if limit != nil {
		left, what = float64(*limit)-g.verdict.Last, fmt.Sprintf("reach its memory limit (%s) and be OOM-killed", mib(float64(*limit)))
	} else {
		f, ok := free[g.node]
		if !ok {
			return Finding{}, false
		}
		left, what = f, fmt.Sprintf("exhaust node %s's memory (%s left, no memory limit)", g.node, mib(f))
	}
	eta := time.Duration(math.Max(left, 0) / g.verdict.SlopePerHour * float64(time.Hour))
	if eta > r.rules.ExhaustionWithin {
		return Finding{}, false
	}
	sev := Warning
	if eta <= r.rules.ExhaustionWithin/4 {
		sev = Critical
	}
	return Finding{
		Key: key + "exhaustion", Rule: MemoryExhaustion, Severity: sev, Workload: wl, Node: "", Reason: "MemoryExhaustion",
		Message: fmt.Sprintf("%s will %s in about %s (+%s/h)", wl, what, about(eta), mib(g.verdict.SlopePerHour)),
	}, true
}

// leaks judges every container's working set over the leak window.
func (r *History) leaks(ctx context.Context, now time.Time) ([]growth, error) {
	pods := map[string]*cluster.Pod{}
	for _, p := range r.c.Pods() {
		pods[p.Key()] = p
	}
	return r.scan.leaks(ctx, r.h, pods, now)
}

// nodeFree is each node's allocatable memory minus its pods' working sets.
func (r *History) nodeFree(ctx context.Context, now time.Time) (map[string]float64, error) {
	var used map[string]float64
	if q, ok := r.h.(queryable); ok {
		var err error
		if used, err = nodeWorkingSets(ctx, q.Queryable(), now); err != nil {
			return nil, fmt.Errorf("reading the nodes' working sets: %w", err)
		}
	} else {
		v, err := r.h.Query(ctx, `sum by (node) (container_memory_working_set_bytes{container!="",container!="POD"})`, now)
		if err != nil {
			return nil, fmt.Errorf("reading the nodes' working sets: %w", err)
		}
		used = map[string]float64{}
		vec, _ := v.(promql.Vector)
		for _, s := range vec {
			used[s.Metric.Get("node")] = s.F
		}
	}
	out := map[string]float64{}
	for _, n := range r.c.Nodes() {
		if n.AllocatableMemory > 0 {
			out[n.Name] = float64(n.AllocatableMemory) - used[n.Name]
		}
	}
	return out, nil
}

func about(d time.Duration) string {
	if d >= 90*time.Minute {
		return fmt.Sprintf("%.0f h", d.Hours())
	}
	return fmt.Sprintf("%.0f min", max(d.Minutes(), 1))
}

func mib(b float64) string {
	if math.Abs(b) >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", b/(1<<20))
}

// Package recommend sizes every workload's containers from the resource
// history next to what they declare now, and turns the sizes into
// strategic-merge patches of the workloads' pod templates: `nodewatch
// recommend` prints or applies them, the dashboard's recommendations page
// shows them with the patches to copy. One code path for both: Recommend
// reads the history (nodewatch's own store in-process, or any
// Prometheus-compatible API through history.Remote) and joins it with a
// cluster.Snapshot; rightsize does the sizing of each container.
package recommend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/report"
)

// Options say what to size and from how much history.
type Options struct {
	// Namespace limits the history read to one namespace ("" for all); the
	// snapshot should hold the same scope.
	Namespace string
	// Now is the end of the history read.
	Now time.Time
	// Since is how much history to read; Resolution is ResolutionRaw or
	// Resolution5m (ResolveResolution picks one for ResolutionAuto).
	Since      time.Duration
	Resolution string
	// Sizing is rightsize's options; Sizing builds them from the flags.
	Sizing rightsize.Options
}

// Sizing returns rightsize's default options with the least history to
// size from, and CPU limits sized or not. The leak check then needs no more
// history than the sizing: with less, a leak would be sized for want of a
// verdict.
func Sizing(minHistory time.Duration, minSamples int, cpuLimits bool) (rightsize.Options, error) {
	o := rightsize.DefaultOptions()
	o.CPULimit = cpuLimits
	o.MinSpan, o.MinSamples = minHistory, minSamples
	o.Leak.MinSpan = min(o.Leak.MinSpan, minHistory)
	o.Leak.SpikeWindow = min(o.Leak.SpikeWindow, minHistory/4)
	o.Leak.MinPoints = max(5, min(o.Leak.MinPoints, minSamples))
	return o, o.Validate()
}

// Recommend reads the history of o.Since before o.Now and sizes every
// workload of snap from it. The report's Server is left for the caller.
func Recommend(ctx context.Context, h History, snap *cluster.Snapshot, o Options) (Report, error) {
	var errs []error
	if o.Since <= 0 {
		errs = append(errs, fmt.Errorf("since must be positive, got %s", o.Since))
	}
	if o.Resolution != ResolutionRaw && o.Resolution != Resolution5m {
		errs = append(errs, fmt.Errorf("resolution %q: want %s or %s", o.Resolution, ResolutionRaw, Resolution5m))
	}
	if err := o.Sizing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Report{}, err
	}
	hist, err := readHistory(ctx, h, historyQuery{namespace: o.Namespace, now: o.Now, since: o.Since, resolution: o.Resolution})
	if err != nil {
		return Report{}, err
	}
	r := build(snap, hist, o.Sizing, o.Now)
	r.Since, r.Resolution = sinceString(o.Since), o.Resolution
	return r, nil
}

// sinceString writes a duration as Prometheus does, in days when whole.
func sinceString(d time.Duration) string {
	if day := 24 * time.Hour; d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return model.Duration(d).String()
}

// Report is recommend's result.
type Report struct {
	Generated  time.Time  `json:"generated"`
	Server     string     `json:"server"`
	Since      string     `json:"since"`
	Resolution string     `json:"resolution"`
	Workloads  []Workload `json:"workloads"`
	// MemoryReservedBefore and After are the memory requests × pods of
	// every workload, now and with the recommendations.
	MemoryReservedBefore int64 `json:"memoryReservedBeforeBytes"`
	MemoryReservedAfter  int64 `json:"memoryReservedAfterBytes"`
	// UnmatchedPods counts pods in the history that belong to no live
	// workload in scope (deleted workloads, bare pods gone).
	UnmatchedPods int `json:"unmatchedPods"`
}

// Workload is one workload's containers.
type Workload struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Pods are the workload's pods running (or pending) now.
	Pods                 int         `json:"pods"`
	Containers           []Container `json:"containers"`
	MemoryReservedBefore int64       `json:"memoryReservedBeforeBytes"`
	MemoryReservedAfter  int64       `json:"memoryReservedAfterBytes"`
}

// Container statuses.
const (
	StatusSized   = "sized"
	StatusLeak    = "leak"
	StatusNoData  = "not-enough-data"
	leakNote      = "leak: fix the leak first"
	sidecarSuffix = " (sidecar)"
)

// Container is one container's current and recommended
// resources.
type Container struct {
	Name    string `json:"name"`
	Sidecar bool   `json:"sidecar,omitempty"`
	Status  string `json:"status"`
	Note    string `json:"note"`
	// Current is what the pods declare now; Recommended is nil unless
	// Status is sized.
	Current     Resources  `json:"current"`
	Recommended *Resources `json:"recommended,omitempty"`
	// OOMKills and Restarts are what the recommendation considered: kills
	// seen in the history or the pods' last states, and the restart count
	// of the live pods.
	OOMKills int                      `json:"oomKills"`
	Restarts int                      `json:"restarts"`
	Details  rightsize.Recommendation `json:"details"`
}

// Resources are memory (bytes) and CPU (millicores); nil when not set.
type Resources struct {
	MemoryRequest *int64 `json:"memoryRequestBytes"`
	MemoryLimit   *int64 `json:"memoryLimitBytes"`
	CPURequest    *int64 `json:"cpuRequestMillicores"`
	CPULimit      *int64 `json:"cpuLimitMillicores"`
}

type workloadKey struct{ namespace, kind, name string }

// build joins the live workloads with their history and
// sizes each container.
func build(snap *cluster.Snapshot, hist map[seriesKey]*containerSeries, o rightsize.Options, now time.Time) Report {
	type workload struct {
		key        workloadKey
		pods       []*cluster.Pod // live pods, finished runs included
		running    int
		containers []cluster.Container // first seen of each name
		history    []*containerSeries
	}
	byKey := map[workloadKey]*workload{}
	var order []workloadKey
	live := map[string]*workload{} // namespace/pod → workload
	known := map[string][]cluster.Owner{}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		own := snap.Owners.Resolve(p)
		k := workloadKey{p.Namespace, own.Kind, own.Name}
		w := byKey[k]
		if w == nil {
			w = &workload{key: k}
			byKey[k] = w
			order = append(order, k)
			known[p.Namespace] = append(known[p.Namespace], own)
		}
		w.pods = append(w.pods, p)
		if p.Phase != "Succeeded" && p.Phase != "Failed" && !p.Deleting {
			w.running++
		}
		for _, c := range p.Containers {
			if (!c.Init || c.Sidecar) && !slices.ContainsFunc(w.containers, func(x cluster.Container) bool { return x.Name == c.Name }) {
				w.containers = append(w.containers, c)
			}
		}
		live[p.Key()] = w
	}
	r := Report{Generated: now, Workloads: []Workload{}}
	unmatched := map[string]bool{}
	for _, h := range hist {
		w := live[h.namespace+"/"+h.pod]
		if w == nil && h.owner.Kind != "" {
			w = byKey[workloadKey{h.namespace, h.owner.Kind, h.owner.Name}]
		}
		if w == nil {
			if own, ok := guessOwner(h.pod, known[h.namespace]); ok {
				w = byKey[workloadKey{h.namespace, own.Kind, own.Name}]
			}
		}
		if w == nil {
			unmatched[h.namespace+"/"+h.pod] = true
			continue
		}
		w.history = append(w.history, h)
	}
	r.UnmatchedPods = len(unmatched)
	for _, w := range byKey {
		slices.SortFunc(w.history, func(a, b *containerSeries) int {
			return cmp.Or(strings.Compare(a.pod, b.pod), strings.Compare(a.container, b.container))
		})
	}
	for _, k := range order {
		w := byKey[k]
		wr := Workload{Namespace: k.namespace, Kind: k.kind, Name: k.name, Pods: w.running}
		for _, c := range w.containers {
			cr := sizeContainer(k, c, w.pods, w.history, o)
			before, after := ptrValue(cr.Current.MemoryRequest), ptrValue(cr.Current.MemoryRequest)
			if cr.Recommended != nil {
				after = ptrValue(cr.Recommended.MemoryRequest)
			}
			wr.MemoryReservedBefore += before * int64(w.running)
			wr.MemoryReservedAfter += after * int64(w.running)
			wr.Containers = append(wr.Containers, cr)
		}
		r.MemoryReservedBefore += wr.MemoryReservedBefore
		r.MemoryReservedAfter += wr.MemoryReservedAfter
		r.Workloads = append(r.Workloads, wr)
	}
	slices.SortFunc(r.Workloads, func(a, b Workload) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
	return r
}

// sizeContainer builds rightsize's input for one container of a workload
// from the history of its pods and the live pods' states, and converts the
// result.
func sizeContainer(k workloadKey, c cluster.Container, pods []*cluster.Pod, hist []*containerSeries, o rightsize.Options) Container {
	cr := Container{Name: c.Name, Sidecar: c.Sidecar, Current: currentResources(c.Name, pods)}
	var in rightsize.Input
	in.Batch = k.kind == "CronJob" || k.kind == "Job"
	index := map[string]int{} // pod name → in.Pods
	pod := func(name string) *rightsize.Pod {
		i, ok := index[name]
		if !ok {
			in.Pods = append(in.Pods, rightsize.Pod{Name: name})
			i = len(in.Pods) - 1
			index[name] = i
		}
		return &in.Pods[i]
	}
	for _, h := range hist {
		if h.container != c.Name {
			continue
		}
		p := pod(h.pod)
		// The samples themselves, not copies (rightsize leaves its input
		// as it is; each series is one pod's container, sized once).
		p.Memory, p.CPU = concat(p.Memory, h.memory), concat(p.CPU, h.cpu)
		p.OOMKills, p.Restarts = append(p.OOMKills, h.ooms...), append(p.Restarts, h.restarts...)
		p.MemoryLimit = max(p.MemoryLimit, h.limit)
	}
	for _, lp := range pods {
		var spec *cluster.Container
		for i := range lp.Containers {
			if lp.Containers[i].Name == c.Name {
				spec = &lp.Containers[i]
			}
		}
		if spec == nil {
			continue
		}
		p := pod(lp.Name)
		// The live spec is the limit the pod runs with; cAdvisor's series
		// only fills in for pods that are gone.
		if spec.Limits.Memory != nil {
			p.MemoryLimit = float64(*spec.Limits.Memory)
		}
		if spec.Requests.Memory != nil {
			p.MemoryRequest = float64(*spec.Requests.Memory)
		}
		if spec.Requests.MilliCPU != nil {
			p.CPURequest = float64(*spec.Requests.MilliCPU) / 1000
		}
		for _, st := range lp.Statuses {
			if st.Name != c.Name {
				continue
			}
			cr.Restarts += int(st.Restarts)
			for _, t := range []*cluster.Termination{st.Terminated, st.LastTermination} {
				if t != nil && t.Reason == "OOMKilled" && !t.FinishedAt.IsZero() {
					p.OOMKills = addTime(p.OOMKills, t.FinishedAt)
				}
			}
			if st.Restarts > 0 && st.LastTermination != nil && !st.LastTermination.FinishedAt.IsZero() {
				p.Restarts = addTime(p.Restarts, st.LastTermination.FinishedAt)
			}
		}
	}
	for _, p := range in.Pods {
		cr.OOMKills += len(p.OOMKills)
	}
	rec := rightsize.Recommend(in, o)
	cr.Details = rec
	switch {
	case !rec.Enough:
		cr.Status = StatusNoData
		cr.Note = fmt.Sprintf("not enough data (%d samples over %s)", rec.Stats.Samples, shortDuration(rec.Stats.Span))
	case rec.Leak:
		cr.Status, cr.Note = StatusLeak, leakNote+" ("+rec.Reason+")"
	default:
		cr.Status = StatusSized
		rs := &Resources{MemoryRequest: ptr(rec.MemoryRequest), MemoryLimit: ptr(rec.MemoryLimit), CPURequest: ptr(rec.CPURequest)}
		var notes []string
		if o.CPULimit {
			rs.CPULimit = ptr(rec.CPULimit)
		} else if cur := cr.Current.CPULimit; cur != nil && *cur < rec.CPURequest {
			// A request above the limit is refused by the API server.
			rs.CPURequest = ptr(*cur)
			notes = append(notes, fmt.Sprintf("CPU request held at the CPU limit %s (p90 is %s; --cpu-limits sizes the limit)", milli(*cur), milli(rec.CPURequest)))
		}
		cr.Recommended = rs
		if rec.Spiky {
			notes = append(notes, "spiky: the request covers the steady level, the limit the spikes")
		}
		if rec.OOMEpisodes > 0 {
			notes = append(notes, fmt.Sprintf("limit raised for %d OOM episode(s)", rec.OOMEpisodes))
		}
		if rec.OOMCapped {
			notes = append(notes, "OOM bump at its cap: look at the workload before raising further")
		}
		cr.Note = strings.Join(notes, "; ")
	}
	return cr
}

// currentResources are the container's declared resources on the live
// pods: the most common combination (pods of an older template linger
// during a rollout), finished pods counted only when nothing else runs.
func currentResources(name string, pods []*cluster.Pod) Resources {
	count := map[string]int{}
	var best Resources
	bestN, bestRunning := 0, false
	for _, p := range pods {
		running := p.Phase != "Succeeded" && p.Phase != "Failed" && !p.Deleting
		for _, c := range p.Containers {
			if c.Name != name {
				continue
			}
			r := Resources{MemoryRequest: c.Requests.Memory, MemoryLimit: c.Limits.Memory, CPURequest: c.Requests.MilliCPU, CPULimit: c.Limits.MilliCPU}
			key := fmt.Sprint(ptrValue(r.MemoryRequest), ptrValue(r.MemoryLimit), ptrValue(r.CPURequest), ptrValue(r.CPULimit), r.MemoryRequest == nil, r.MemoryLimit == nil, r.CPURequest == nil, r.CPULimit == nil)
			count[key]++
			if (running && !bestRunning) || (running == bestRunning && count[key] > bestN) {
				best, bestN, bestRunning = r, count[key], running
			}
		}
	}
	return best
}

// addTime adds t unless a time within a minute of it is there (the same
// kill seen in the history and in the pod's status).
func addTime(ts []time.Time, t time.Time) []time.Time {
	for _, x := range ts {
		if d := x.Sub(t); d < time.Minute && d > -time.Minute {
			return ts
		}
	}
	return append(ts, t)
}

func ptr[T any](v T) *T { return &v }

func ptrValue(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func milli(m int64) string { return resource.NewMilliQuantity(m, resource.DecimalSI).String() }

func shortDuration(d time.Duration) string {
	return model.Duration(d.Round(time.Second)).String()
}

// WriteTable renders the report for people.
func (r Report) WriteTable(w io.Writer) error {
	if len(r.Workloads) == 0 {
		_, err := fmt.Fprintln(w, "No workloads in scope.")
		return err
	}
	tw := report.NewTable(w)
	cpuLimits := false
	for _, wl := range r.Workloads {
		for _, c := range wl.Containers {
			cpuLimits = cpuLimits || (c.Recommended != nil && c.Recommended.CPULimit != nil)
		}
	}
	head := "NAMESPACE\tWORKLOAD\tCONTAINER\tPODS\tMEMORY REQUEST\tMEMORY LIMIT\tCPU REQUEST\t"
	if cpuLimits {
		head += "CPU LIMIT\t"
	}
	tw.Println(head + "CONFIDENCE\tOOM KILLS/RESTARTS\tNOTE")
	for _, wl := range r.Workloads {
		for _, c := range wl.Containers {
			rec := c.Recommended
			if rec == nil {
				rec = &Resources{}
			}
			name := c.Name
			if c.Sidecar {
				name += sidecarSuffix
			}
			conf := "-"
			if c.Status == StatusSized {
				conf = fmt.Sprintf("%s (%.2f)", c.Details.ConfidenceLevel, c.Details.Confidence)
			}
			tw.Printf("%s\t%s/%s\t%s\t%d\t%s\t%s\t%s\t", wl.Namespace, wl.Kind, wl.Name, name, wl.Pods,
				change(c.Current.MemoryRequest, rec.MemoryRequest, bytesOf), change(c.Current.MemoryLimit, rec.MemoryLimit, bytesOf),
				change(c.Current.CPURequest, rec.CPURequest, milli))
			if cpuLimits {
				tw.Printf("%s\t", change(c.Current.CPULimit, rec.CPULimit, milli))
			}
			tw.Printf("%s\t%d/%d\t%s\n", conf, c.OOMKills, c.Restarts, c.Note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	pw := report.NewPrinter(w)
	pw.Println("\nMemory reserved (requests × pods running now):")
	tw = report.NewTable(pw)
	tw.Println("NAMESPACE\tWORKLOAD\tBEFORE\tAFTER\tCHANGE")
	for _, wl := range r.Workloads {
		tw.Printf("%s\t%s/%s\t%s\t%s\t%s\n", wl.Namespace, wl.Kind, wl.Name, bytesOf(wl.MemoryReservedBefore),
			bytesOf(wl.MemoryReservedAfter), signedBytes(wl.MemoryReservedAfter-wl.MemoryReservedBefore))
	}
	tw.Printf("total\t\t%s\t%s\t%s\n", bytesOf(r.MemoryReservedBefore), bytesOf(r.MemoryReservedAfter),
		signedBytes(r.MemoryReservedAfter-r.MemoryReservedBefore))
	if err := tw.Flush(); err != nil {
		return err
	}
	source := "raw samples"
	if r.Resolution == Resolution5m {
		source = "5-minute maxima"
	}
	pw.Printf("\nFrom %s over %s of history at %s.", source, r.Since, r.Server)
	if r.UnmatchedPods > 0 {
		pw.Printf(" %d pod(s) in the history belong to no workload in the cluster now.", r.UnmatchedPods)
	}
	pw.Println()
	return pw.Err()
}

// change renders "now → recommended", or only now when nothing is
// recommended.
func change(now, rec *int64, f func(int64) string) string {
	cur := "none"
	if now != nil {
		cur = f(*now)
	}
	if rec == nil {
		return cur
	}
	return cur + " → " + f(*rec)
}

func bytesOf(n int64) string { return report.Bytes(&n, "-") }

func signedBytes(n int64) string {
	if n >= 0 {
		return "+" + bytesOf(n)
	}
	return "-" + bytesOf(-n)
}

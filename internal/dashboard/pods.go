package dashboard

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/store"
)

type containerRow struct {
	Name          string               `json:"name"`
	Init          bool                 `json:"init,omitempty"`
	Sidecar       bool                 `json:"sidecar,omitempty"`
	MemoryRequest *int64               `json:"memoryRequest"`
	MemoryLimit   *int64               `json:"memoryLimit"`
	MilliCPUReq   *int64               `json:"cpuRequestMillis"`
	MilliCPULimit *int64               `json:"cpuLimitMillis"`
	Restarts      int32                `json:"restarts"`
	Waiting       string               `json:"waiting,omitempty"`
	Last          *cluster.Termination `json:"lastTermination,omitempty"`
}

// verdictRow is a container's leak verdict and what it means for the pod.
type verdictRow struct {
	Container string       `json:"container"`
	Verdict   leak.Verdict `json:"verdict"`
	// Forecast says when the growth reaches the limit, or fills the node
	// when there is none; empty when it does not grow.
	Forecast string `json:"forecast,omitempty"`
}

type podJSON struct {
	Range    rangeJSON `json:"range"`
	History  bool      `json:"history"`
	Warnings []string  `json:"warnings,omitempty"`
	// InCluster is false for a pod known only from the history.
	InCluster  bool           `json:"inCluster"`
	Namespace  string         `json:"namespace"`
	Name       string         `json:"name"`
	Node       string         `json:"node"`
	Owner      cluster.Owner  `json:"owner"`
	Phase      string         `json:"phase"`
	QOS        string         `json:"qos"`
	Reason     string         `json:"reason,omitempty"`
	Message    string         `json:"message,omitempty"`
	Restarts   int32          `json:"restarts"`
	Containers []containerRow `json:"containers"`
	Memory     chart          `json:"memory"`
	CPU        chart          `json:"cpu"`
	Verdicts   []verdictRow   `json:"verdicts"`
	Events     []eventRow     `json:"events"`
}

func (s *server) pod(r *http.Request, rng timeRange) (any, error) {
	ctx := r.Context()
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	out := podJSON{Range: rng.json(), History: s.o.History != nil, Namespace: ns, Name: name, Containers: []containerRow{},
		Verdicts: []verdictRow{}, Events: []eventRow{},
		Memory: chart{Unit: "bytes", Series: []series{}}, CPU: chart{Unit: "cores", Series: []series{}}}
	warn := func(err error) {
		if err != nil {
			out.Warnings = append(out.Warnings, err.Error())
		}
	}
	if s.o.History == nil {
		out.Warnings = append(out.Warnings, noHistory)
	}
	p, ok := s.o.Cluster.Pod(ns, name)
	sel := fmt.Sprintf(`namespace=%s,pod=%s,container!=""`, quote(ns), quote(name))
	mem, err := s.matrix(ctx, `container_memory_working_set_bytes{`+sel+`}`, rng)
	warn(err)
	if !ok && len(mem) == 0 {
		return nil, notFound("no pod %s/%s in the cluster or the history of this range", ns, name)
	}
	if ok {
		out.InCluster = true
		out.Node, out.Owner, out.Phase, out.QOS = p.NodeName, s.o.Cluster.Owners().Resolve(p), p.Phase, p.QOS
		out.Reason, out.Message, out.Restarts = p.Reason, p.Message, p.Restarts
		status := map[string]cluster.ContainerStatus{}
		for _, st := range p.Statuses {
			status[st.Name] = st
		}
		var cpuReq, cpuLim int64
		cpuLimited := true
		for _, c := range p.Containers {
			st := status[c.Name]
			row := containerRow{Name: c.Name, Init: c.Init, Sidecar: c.Sidecar, MemoryRequest: c.Requests.Memory, MemoryLimit: c.Limits.Memory,
				MilliCPUReq: c.Requests.MilliCPU, MilliCPULimit: c.Limits.MilliCPU, Restarts: st.Restarts, Waiting: st.Waiting, Last: st.LastTermination}
			out.Containers = append(out.Containers, row)
			if c.Init && !c.Sidecar {
				continue
			}
			if c.Requests.MilliCPU != nil {
				cpuReq += *c.Requests.MilliCPU
			}
			if c.Limits.MilliCPU != nil {
				cpuLim += *c.Limits.MilliCPU
			} else {
				cpuLimited = false
			}
			for _, t := range []*cluster.Termination{st.Terminated, st.LastTermination} {
				if t != nil && !t.FinishedAt.IsZero() && !t.FinishedAt.Before(rng.Start) {
					kind := "restart"
					if t.Reason == "OOMKilled" {
						kind = "oom"
					}
					out.Memory.Markers = append(out.Memory.Markers, marker{T: t.FinishedAt.UnixMilli(), Kind: kind,
						Label: fmt.Sprintf("%s: %s (exit %d)", c.Name, t.Reason, t.ExitCode)})
				}
			}
		}
		if p.MemoryRequest != nil {
			out.Memory.Levels = append(out.Memory.Levels, level{Name: "request", Value: float64(*p.MemoryRequest)})
		}
		if p.MemoryLimit != nil {
			out.Memory.Levels = append(out.Memory.Levels, level{Name: "limit", Value: float64(*p.MemoryLimit)})
		}
		if cpuReq > 0 {
			out.CPU.Levels = append(out.CPU.Levels, level{Name: "request", Value: float64(cpuReq) / 1000})
		}
		if cpuLimited && cpuLim > 0 {
			out.CPU.Levels = append(out.CPU.Levels, level{Name: "limit", Value: float64(cpuLim) / 1000})
		}
	}
	containerName := func(sr promql.Series) string { return sr.Metric.Get("container") }
	if out.Node == "" && len(mem) > 0 {
		out.Node = mem[0].Metric.Get("node")
		out.Owner = cluster.Owner{Kind: mem[0].Metric.Get("workload_kind"), Name: mem[0].Metric.Get("workload")}
	}
	out.Memory.Series = topSeries(mem, containerName, maxBands, "other containers")
	cpu, err := s.matrix(ctx, fmt.Sprintf(`rate(container_cpu_usage_seconds_total{%s}[%s])`, sel, rateWindow(rng)), rng)
	warn(err)
	out.CPU.Series = topSeries(cpu, containerName, maxBands, "other containers")
	// OOM kills the history saw (cAdvisor's counter), besides the statuses.
	ooms, err := s.matrix(ctx, fmt.Sprintf(`increase(container_oom_events_total{%s}[%s]) > 0`, sel, rateWindow(rng)), rng)
	warn(err)
	for _, sr := range ooms {
		var last int64 = -1 << 62
		for _, f := range sr.Floats {
			if f.T-last > 5*60*1000 { // one marker per episode
				out.Memory.Markers = append(out.Memory.Markers, marker{T: f.T, Kind: "oom", Label: sr.Metric.Get("container") + ": OOM kill (cAdvisor)"})
			}
			last = f.T
		}
	}

	// The node's last known memory (a failed node is no longer scraped).
	var alloc, nodeUsed float64
	if out.Node != "" {
		if n, ok := s.o.Cluster.Node(out.Node); ok {
			alloc = float64(cluster.NodeFrom(n).AllocatableMemory)
		}
		if v, err := s.vector(ctx, fmt.Sprintf(`last_over_time(node_memory_working_set_bytes{node=%s}[%ds])`, quote(out.Node), int64(rng.End.Sub(rng.Start).Seconds())), rng.End); err == nil && len(v) > 0 {
			nodeUsed = v[0].F
		}
	}
	for _, sr := range mem {
		pts := make([]leak.Point, 0, len(sr.Floats))
		for _, f := range sr.Floats {
			pts = append(pts, leak.Point{T: time.UnixMilli(f.T), V: f.F})
		}
		v := verdictRow{Container: sr.Metric.Get("container"), Verdict: leak.Analyze(pts, s.o.Leak)}
		v.Forecast = forecast(v.Verdict, out.Containers, v.Container, alloc, nodeUsed)
		out.Verdicts = append(out.Verdicts, v)
	}
	slices.SortFunc(out.Verdicts, func(a, b verdictRow) int { return strings.Compare(a.Container, b.Container) })

	if s.o.Events != nil {
		evs, err := s.o.Events.Events("Pod", ns, name, rng.Start)
		warn(err)
		out.Events = eventRows(evs, "")
		for _, e := range evs {
			if strings.Contains(strings.ToLower(e.Reason), "oom") {
				out.Memory.Markers = append(out.Memory.Markers, marker{T: e.Time.UnixMilli(), Kind: "oom", Label: e.Reason + ": " + e.Message})
			}
		}
	}
	slices.SortFunc(out.Memory.Markers, func(a, b marker) int { return int(a.T - b.T) })
	return out, nil
}

// forecast says when a growing container reaches its limit, or, without
// one, when the node's free memory is gone at this rate.
func forecast(v leak.Verdict, cs []containerRow, name string, alloc, nodeUsed float64) string {
	if !v.Enough || v.SlopePerHour <= 0 {
		return ""
	}
	for _, c := range cs {
		if c.Name == name && c.MemoryLimit != nil {
			d, ok := v.TimeTo(float64(*c.MemoryLimit))
			if !ok {
				return ""
			}
			return fmt.Sprintf("reaches its %s limit in %s at this rate", mib(float64(*c.MemoryLimit)), human(d))
		}
	}
	if alloc <= 0 || nodeUsed <= 0 {
		return "no memory limit: it can grow until its node runs out"
	}
	d := time.Duration((alloc - nodeUsed) / v.SlopePerHour * float64(time.Hour))
	return fmt.Sprintf("no memory limit: at this rate its node's free %s is gone in %s", mib(max(alloc-nodeUsed, 0)), human(max(d, 0)))
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func human(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	default:
		return d.Round(time.Second).String()
	}
}

// eventRows lists events newest first, at most maxRows.
func eventRows(evs []store.Event, object string) []eventRow {
	out := make([]eventRow, 0, min(len(evs), maxRows))
	for i := len(evs) - 1; i >= 0 && len(out) < maxRows; i-- {
		e := evs[i]
		out = append(out, eventRow{Time: e.Time, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count, Object: object})
	}
	return out
}

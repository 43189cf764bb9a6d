package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/analyze/culprit"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
)

type incidentsJSON struct {
	Range     rangeJSON         `json:"range"`
	Warnings  []string          `json:"warnings,omitempty"`
	Incidents []incidentRow     `json:"incidents"`
	Total     int               `json:"total"`
	Suspects  []culprit.Suspect `json:"suspects"`
}

func (s *server) incidents(r *http.Request, rng timeRange) (any, error) {
	incs, err := s.o.Incidents.Incidents()
	if err != nil {
		return nil, err
	}
	out := incidentsJSON{Range: rng.json(), Incidents: []incidentRow{}, Total: len(incs)}
	rows := make([]incidentRow, len(incs))
	for i := range incs {
		rows[i] = rowOf(&incs[i])
	}
	// Open ones first, then the newest.
	slices.SortFunc(rows, func(a, b incidentRow) int {
		if (a.Status == incident.Open) != (b.Status == incident.Open) {
			if a.Status == incident.Open {
				return -1
			}
			return 1
		}
		return b.Start.Compare(a.Start)
	})
	out.Incidents = append(out.Incidents, rows[:min(len(rows), maxRows)]...)
	var warn []string
	out.Suspects, warn = s.suspects(r.Context(), incs, rng.End)
	out.Warnings = append(out.Warnings, warn...)
	return out, nil
}

// step is one line of an incident's timeline.
type step struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // started, since, event, notification, resolved
	Text   string    `json:"text"`
	Detail string    `json:"detail,omitempty"`
}

type incidentPod struct {
	health.PodReport
	// MemoryAtFailure is the pod's working set when the incident opened.
	MemoryAtFailure *float64 `json:"memoryAtFailure"`
}

type incidentJSON struct {
	Range    rangeJSON         `json:"range"`
	History  bool              `json:"history"`
	Warnings []string          `json:"warnings,omitempty"`
	Incident incident.Incident `json:"incident"`
	Timeline []step            `json:"timeline"`
	Pods     []incidentPod     `json:"pods"`
	// Memory is the node's pods' working sets around the failure, with the
	// major-page-fault rate (node incidents), or the workload's pods'.
	Memory   chart             `json:"memory"`
	Suspects []culprit.Suspect `json:"suspects"`
	// Cause is the best-ranked suspect that had pods on this node.
	Cause *culprit.Suspect `json:"cause"`
}

func (s *server) incident(r *http.Request, rng timeRange) (any, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	incs, err := s.o.Incidents.Incidents()
	if err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(incs, func(i incident.Incident) bool { return i.ID == id })
	if idx < 0 {
		return nil, notFound("no incident %q", id)
	}
	inc := incs[idx]
	// Without ?end= the charts end a quarter of the range after the
	// incident (or now), so the run-up to the failure is in view.
	if !r.URL.Query().Has("end") {
		end := s.o.Now()
		if inc.End != nil {
			end = *inc.End
		}
		width := rng.End.Sub(rng.Start)
		if e := end.Add(width / 4); e.Before(rng.End) {
			rng.End = e
			s.setWidth(&rng, width)
		}
	}
	out := incidentJSON{Range: rng.json(), History: s.o.History != nil, Incident: inc, Timeline: []step{}, Pods: []incidentPod{},
		Memory: chart{Unit: "bytes", Stacked: true, Series: []series{}}}
	warn := func(err error) {
		if err != nil {
			out.Warnings = append(out.Warnings, err.Error())
		}
	}
	if s.o.History == nil {
		out.Warnings = append(out.Warnings, noHistory)
	}
	out.Timeline = incidentTimeline(&inc)
	at := inc.Start
	if inc.Node != "" {
		vec, err := s.vector(ctx, fmt.Sprintf(`sum by (namespace, pod) (container_memory_working_set_bytes{node=%s,container!=""})`, quote(inc.Node)), at)
		warn(err)
		used := byLabels(vec, "namespace", "pod")
		for _, p := range inc.Pods {
			ip := incidentPod{PodReport: p}
			if v, ok := used[p.Namespace+"/"+p.Name]; ok {
				ip.MemoryAtFailure = &v
			}
			out.Pods = append(out.Pods, ip)
		}
		slices.SortFunc(out.Pods, func(a, b incidentPod) int { return int(deref(b.MemoryAtFailure) - deref(a.MemoryAtFailure)) })
		out.Memory, err = s.nodeMemory(ctx, inc.Node, rng)
		warn(err)
	} else if parts := strings.SplitN(inc.Workload, "/", 3); len(parts) == 3 {
		m, err := s.matrix(ctx, fmt.Sprintf(`sum by (namespace, pod) (container_memory_working_set_bytes{namespace=%s,workload_kind=%s,workload=%s,container!=""})`,
			quote(parts[0]), quote(parts[1]), quote(parts[2])), rng)
		warn(err)
		out.Memory.Series = topSeries(m, func(sr promql.Series) string { return sr.Metric.Get("namespace") + "/" + sr.Metric.Get("pod") }, maxBands, "other pods")
	}
	out.Memory.Markers = append(out.Memory.Markers, marker{T: inc.Start.UnixMilli(), Kind: "incident", Label: inc.Rule + " opened"})
	if inc.End != nil {
		out.Memory.Markers = append(out.Memory.Markers, marker{T: inc.End.UnixMilli(), Kind: "resolved", Label: inc.Rule + " resolved"})
	}
	var warns []string
	out.Suspects, warns = s.suspects(ctx, incs, rng.End)
	out.Warnings = append(out.Warnings, warns...)
	here := map[culprit.Workload]bool{}
	for _, p := range inc.Pods {
		here[culprit.Workload{Namespace: p.Namespace, Kind: p.Owner.Kind, Name: p.Owner.Name}] = true
	}
	for i := range out.Suspects {
		if here[out.Suspects[i].Workload] {
			out.Cause = &out.Suspects[i]
			break
		}
	}
	return out, nil
}

func incidentTimeline(inc *incident.Incident) []step {
	var out []step
	if !inc.Since.IsZero() && !inc.Since.Equal(inc.Start) {
		out = append(out, step{Time: inc.Since, Kind: "since", Text: "the cluster says the condition began"})
	}
	out = append(out, step{Time: inc.Start, Kind: "started", Text: inc.Rule + " opened", Detail: strings.TrimSpace(inc.Reason + " " + inc.Message)})
	for _, e := range inc.Events {
		out = append(out, step{Time: e.Time, Kind: "event", Text: e.Type + " " + e.Reason, Detail: e.Message})
	}
	for _, n := range inc.Notifications {
		text := n.Rule + " " + n.Status + " notification queued"
		if n.Suppressed != "" {
			text = n.Rule + " " + n.Status + " notification held back"
		}
		out = append(out, step{Time: n.At, Kind: "notification", Text: text, Detail: n.Suppressed})
	}
	if inc.End != nil {
		out = append(out, step{Time: *inc.End, Kind: "resolved", Text: "resolved after " + human(inc.End.Sub(inc.Start))})
	}
	slices.SortStableFunc(out, func(a, b step) int { return a.Time.Compare(b.Time) })
	return out
}

// suspects ranks workloads as `nodewatch suspects` does: presence on the
// failed nodes against the base rate, missing limits, and leaks — judged
// here for the containers that grew fastest in the last hour before at.
func (s *server) suspects(ctx context.Context, incs []incident.Incident, at time.Time) ([]culprit.Suspect, []string) {
	fails := culprit.Failures(incs)
	if len(fails) == 0 {
		return []culprit.Suspect{}, nil
	}
	var warns []string
	evidence := map[culprit.Workload]culprit.Evidence{}
	// The leak window is the CLI's default for suspects: a day of history.
	g, err := s.growing(ctx, timeRange{Start: at.Add(-24 * time.Hour), End: at, Step: 2 * time.Minute}, 20, "")
	if err != nil {
		warns = append(warns, "no leak evidence: "+err.Error())
	}
	for _, c := range g {
		if !c.Verdict.Leak {
			continue
		}
		w := culprit.Workload{Namespace: c.Namespace, Kind: c.WorkloadKind, Name: c.Workload}
		if _, seen := evidence[w]; seen {
			continue // the fastest-growing container speaks for its workload
		}
		evidence[w] = culprit.LeakEvidence(c.Container, c.Pod, c.Verdict)
	}
	ranked := culprit.Rank(fails, s.presence(), evidence)
	if ranked == nil {
		ranked = []culprit.Suspect{}
	}
	return ranked[:min(len(ranked), 50)], warns
}

// presence counts, per workload, the nodes it has pods on now.
func (s *server) presence() map[culprit.Workload]culprit.Presence {
	return culprit.PresenceOf(s.o.Cluster.Pods(), s.o.Cluster.Owners(), len(s.o.Cluster.Nodes()))
}

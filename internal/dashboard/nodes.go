package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/incident"
)

// nodeRow is one node of the overview.
type nodeRow struct {
	Name string `json:"name"`
	// Ready is the Ready condition's status: True, False, Unknown or "".
	Ready         string     `json:"ready"`
	Reason        string     `json:"reason,omitempty"`
	Since         *time.Time `json:"since,omitempty"`
	Unschedulable bool       `json:"unschedulable,omitempty"`
	Pressure      []string   `json:"pressure,omitempty"`
	// LeaseAge is how long ago the kubelet last renewed its Lease.
	LeaseAge *float64 `json:"leaseAgeSeconds,omitempty"`
	// Memory is the working set from the history (null: not scraped).
	Memory      *float64 `json:"memoryUsed"`
	Requests    int64    `json:"memoryRequests"`
	Limits      int64    `json:"memoryLimits"`
	Allocatable int64    `json:"memoryAllocatable"`
	Pods        int      `json:"pods"`
	NoLimit     int      `json:"podsWithoutMemoryLimit"`
	// MajorFaults is the node's major page faults per second.
	MajorFaults   *float64 `json:"majorFaultsPerSecond"`
	OpenIncidents int      `json:"openIncidents"`
}

// incidentRow is an incident in a list.
type incidentRow struct {
	ID       string     `json:"id"`
	Rule     string     `json:"rule"`
	Severity string     `json:"severity"`
	Status   string     `json:"status"`
	Start    time.Time  `json:"start"`
	Since    time.Time  `json:"since,omitzero"`
	End      *time.Time `json:"end"`
	Node     string     `json:"node,omitempty"`
	Workload string     `json:"workload,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Message  string     `json:"message,omitempty"`
	Pods     int        `json:"pods"`
}

func rowOf(i *incident.Incident) incidentRow {
	return incidentRow{ID: i.ID, Rule: i.Rule, Severity: i.Severity, Status: i.Status, Start: i.Start, Since: i.Since, End: i.End,
		Node: i.Node, Workload: i.Workload, Reason: i.Reason, Message: i.Message, Pods: len(i.Pods)}
}

// growing is a container whose memory grows, with its leak verdict.
type growing struct {
	Namespace    string       `json:"namespace"`
	Pod          string       `json:"pod"`
	Container    string       `json:"container"`
	Node         string       `json:"node"`
	WorkloadKind string       `json:"workloadKind"`
	Workload     string       `json:"workload"`
	BytesPerHour float64      `json:"bytesPerHour"`
	Last         float64      `json:"last"`
	Limit        *int64       `json:"memoryLimit"`
	Verdict      leak.Verdict `json:"verdict"`
}

type overviewJSON struct {
	Range     rangeJSON     `json:"range"`
	History   bool          `json:"history"`
	Warnings  []string      `json:"warnings,omitempty"`
	Nodes     []nodeRow     `json:"nodes"`
	NotReady  int           `json:"notReady"`
	Pods      int           `json:"pods"`
	Incidents []incidentRow `json:"openIncidents"`
	Growing   []growing     `json:"growing"`
	// Memory is the cluster's working set over time against its requests
	// and allocatable memory.
	Memory chart `json:"memory"`
}

// active reports whether a pod still holds memory on its node.
func active(p *cluster.Pod) bool {
	return p.NodeName != "" && p.Phase != "Succeeded" && p.Phase != "Failed"
}

func (s *server) overview(r *http.Request, rng timeRange) (any, error) {
	ctx := r.Context()
	out := overviewJSON{Range: rng.json(), History: s.o.History != nil, Nodes: []nodeRow{}, Incidents: []incidentRow{}, Growing: []growing{}}
	warn := func(err error) {
		if err != nil {
			out.Warnings = append(out.Warnings, err.Error())
		}
	}
	if s.o.History == nil {
		out.Warnings = append(out.Warnings, noHistory)
	}
	memVec, err := s.vector(ctx, `node_memory_working_set_bytes`, rng.End)
	warn(err)
	mem := byLabels(memVec, "node")
	pfVec, err := s.vector(ctx, fmt.Sprintf(`rate(container_memory_failures_total{failure_type="pgmajfault",id="/"}[%s])`, rateWindow(rng)), rng.End)
	warn(err)
	pf := byLabels(pfVec, "node")

	incs, err := s.o.Incidents.Incidents()
	if err != nil {
		return nil, err
	}
	openOn := map[string]int{}
	for i := range incs {
		if incs[i].Status == incident.Open {
			out.Incidents = append(out.Incidents, rowOf(&incs[i]))
			if incs[i].Node != "" {
				openOn[incs[i].Node]++
			}
		}
	}
	slices.SortFunc(out.Incidents, func(a, b incidentRow) int { return b.Start.Compare(a.Start) })

	now := s.o.Now()
	rows := map[string]*nodeRow{}
	var alloc int64
	for _, n := range s.o.Cluster.Nodes() {
		row := s.nodeRow(n, now)
		if v, ok := mem[n.Name]; ok {
			row.Memory = &v
		}
		if v, ok := pf[n.Name]; ok {
			row.MajorFaults = &v
		}
		row.OpenIncidents = openOn[n.Name]
		if row.Ready != "True" {
			out.NotReady++
		}
		alloc += row.Allocatable
		rows[n.Name] = &row
	}
	var requested int64
	for _, p := range s.o.Cluster.Pods() {
		if !active(p) {
			continue
		}
		out.Pods++
		row, ok := rows[p.NodeName]
		if !ok {
			continue
		}
		row.Pods++
		if p.MemoryRequest != nil {
			row.Requests += *p.MemoryRequest
			requested += *p.MemoryRequest
		}
		if p.MemoryLimit != nil {
			row.Limits += *p.MemoryLimit
		} else {
			row.NoLimit++
		}
	}
	for _, row := range rows {
		out.Nodes = append(out.Nodes, *row)
	}
	// The nodes in trouble first, then the fullest.
	slices.SortFunc(out.Nodes, func(a, b nodeRow) int {
		return cmp.Or(cmp.Compare(b.OpenIncidents, a.OpenIncidents), cmp.Compare(boolInt(a.Ready == "True"), boolInt(b.Ready == "True")),
			cmp.Compare(share(b), share(a)), strings.Compare(a.Name, b.Name))
	})

	m, err := s.matrix(ctx, `sum(node_memory_working_set_bytes)`, rng)
	warn(err)
	out.Memory = chart{Unit: "bytes", Series: []series{}, Levels: []level{{Name: "requested", Value: float64(requested)}, {Name: "allocatable", Value: float64(alloc)}}}
	for _, sr := range m {
		out.Memory.Series = append(out.Memory.Series, series{Name: "working set (all nodes)", Points: points(sr.Floats)})
	}
	g, err := s.growing(ctx, rng, 10, "")
	warn(err)
	if g != nil {
		out.Growing = g
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// share is the node's memory in use (or requested, unscraped) of allocatable.
func share(n nodeRow) float64 {
	if n.Allocatable <= 0 {
		return 0
	}
	used := float64(n.Requests)
	if n.Memory != nil {
		used = *n.Memory
	}
	return used / float64(n.Allocatable)
}

func (s *server) nodeRow(n *corev1.Node, now time.Time) nodeRow {
	cn := cluster.NodeFrom(n)
	row := nodeRow{Name: n.Name, Unschedulable: cn.Unschedulable, Allocatable: cn.AllocatableMemory}
	if c, ok := cn.Condition("Ready"); ok {
		row.Ready, row.Reason = c.Status, c.Reason
		if !c.Since.IsZero() {
			row.Since = &c.Since
		}
	}
	for _, c := range cn.Conditions {
		if c.Type != "Ready" && c.Status == "True" {
			row.Pressure = append(row.Pressure, c.Type)
		}
	}
	if l, ok := s.o.Cluster.Lease(n.Name); ok && l.Spec.RenewTime != nil {
		age := now.Sub(l.Spec.RenewTime.Time).Seconds()
		row.LeaseAge = &age
	}
	return row
}

// growing finds the k containers whose working set grew fastest over the
// range (at most the last hour of it, by PromQL's deriv), then judges each
// with analyze/leak over the whole range. sel narrows the containers.
func (s *server) growing(ctx context.Context, rng timeRange, k int, sel string) ([]growing, error) {
	if s.o.History == nil {
		return nil, nil
	}
	w := min(rng.End.Sub(rng.Start), time.Hour)
	q := fmt.Sprintf(`topk(%d, deriv(container_memory_working_set_bytes{container!=""%s}[%ds]) > 0)`, k, sel, int64(w.Seconds()))
	vec, err := s.vector(ctx, q, rng.End)
	if err != nil {
		return nil, err
	}
	out := make([]growing, 0, len(vec))
	for _, smp := range vec {
		l := smp.Metric
		g := growing{Namespace: l.Get("namespace"), Pod: l.Get("pod"), Container: l.Get("container"), Node: l.Get("node"),
			WorkloadKind: l.Get("workload_kind"), Workload: l.Get("workload"), BytesPerHour: smp.F * 3600}
		if p, ok := s.o.Cluster.Pod(g.Namespace, g.Pod); ok {
			g.Limit = containerLimit(p, g.Container)
		}
		sq := fmt.Sprintf(`container_memory_working_set_bytes{namespace=%s,pod=%s,container=%s}`, quote(g.Namespace), quote(g.Pod), quote(g.Container))
		m, err := s.matrix(ctx, leak.Query(sq, rng.Step), rng)
		if err != nil {
			return nil, err
		}
		var pts []leak.Point
		for _, sr := range m {
			for _, f := range sr.Floats {
				pts = append(pts, leak.Point{T: time.UnixMilli(f.T), V: f.F})
			}
		}
		g.Verdict = leak.Analyze(pts, s.o.Leak)
		g.Last = g.Verdict.Last
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b growing) int {
		return cmp.Or(cmp.Compare(b.BytesPerHour, a.BytesPerHour), strings.Compare(a.Namespace+"/"+a.Pod+"/"+a.Container, b.Namespace+"/"+b.Pod+"/"+b.Container))
	})
	return out, nil
}

// containerLimit is a container's memory limit, nil if it has none.
func containerLimit(p *cluster.Pod, name string) *int64 {
	for _, c := range p.Containers {
		if c.Name == name {
			return c.Limits.Memory
		}
	}
	return nil
}

// segment is a stretch of a node's timeline: an incident, or the current
// condition.
type segment struct {
	Lane     string     `json:"lane"` // Ready, Lease, Pressure
	Start    time.Time  `json:"start"`
	End      *time.Time `json:"end"`
	Label    string     `json:"label"`
	Severity string     `json:"severity"`
	Incident string     `json:"incident,omitempty"`
}

type podRow struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Owner     cluster.Owner `json:"owner"`
	Phase     string        `json:"phase"`
	QOS       string        `json:"qos"`
	Request   *int64        `json:"memoryRequest"`
	Limit     *int64        `json:"memoryLimit"`
	Restarts  int32         `json:"restarts"`
	Memory    *float64      `json:"memoryUsed"`
}

type eventRow struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
	Object  string    `json:"object,omitempty"`
}

type nodeJSON struct {
	Range      rangeJSON           `json:"range"`
	History    bool                `json:"history"`
	Warnings   []string            `json:"warnings,omitempty"`
	Node       nodeRow             `json:"node"`
	Conditions []cluster.Condition `json:"conditions"`
	Taints     []string            `json:"taints"`
	Timeline   []segment           `json:"timeline"`
	Pods       []podRow            `json:"pods"`
	// Memory is the node's pods' working sets stacked, with the node's
	// major-page-fault rate as the overlay.
	Memory    chart         `json:"memory"`
	Events    []eventRow    `json:"events"`
	Incidents []incidentRow `json:"incidents"`
}

// maxBands is how many pods a stacked chart shows on their own.
const maxBands = 10

// maxRows bounds the events and incidents a page lists.
const maxRows = 200

func (s *server) node(r *http.Request, rng timeRange) (any, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	n, ok := s.o.Cluster.Node(name)
	incs, err := s.o.Incidents.Incidents()
	if err != nil {
		return nil, err
	}
	var mine []*incident.Incident
	for i := range incs {
		if incs[i].Node == name {
			mine = append(mine, &incs[i])
		}
	}
	if !ok && len(mine) == 0 {
		return nil, notFound("no node %q in the cluster or the incidents", name)
	}
	now := s.o.Now()
	out := nodeJSON{Range: rng.json(), History: s.o.History != nil, Node: nodeRow{Name: name}, Conditions: []cluster.Condition{},
		Taints: []string{}, Timeline: []segment{}, Pods: []podRow{}, Events: []eventRow{}, Incidents: []incidentRow{}}
	warn := func(err error) {
		if err != nil {
			out.Warnings = append(out.Warnings, err.Error())
		}
	}
	if s.o.History == nil {
		out.Warnings = append(out.Warnings, noHistory)
	}
	if ok {
		out.Node = s.nodeRow(n, now)
		out.Conditions = cluster.NodeFrom(n).Conditions
		for _, t := range n.Spec.Taints {
			out.Taints = append(out.Taints, fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect))
		}
	} else {
		out.Warnings = append(out.Warnings, "the node is no longer in the cluster")
	}
	out.Timeline = timeline(out.Node, mine, rng)
	slices.SortFunc(mine, func(a, b *incident.Incident) int { return b.Start.Compare(a.Start) })
	for _, i := range mine[:min(len(mine), maxRows)] {
		out.Incidents = append(out.Incidents, rowOf(i))
	}

	// The last known values within the last hour of the range: a failed
	// node is no longer scraped, and what it last held is the story.
	last := int64(min(rng.End.Sub(rng.Start), time.Hour).Seconds())
	memNow, err := s.vector(ctx, fmt.Sprintf(`sum by (namespace, pod) (last_over_time(container_memory_working_set_bytes{node=%s,container!=""}[%ds]))`, quote(name), last), rng.End)
	warn(err)
	used := byLabels(memNow, "namespace", "pod")
	if v, err := s.vector(ctx, fmt.Sprintf(`last_over_time(node_memory_working_set_bytes{node=%s}[%ds])`, quote(name), last), rng.End); err == nil && len(v) > 0 {
		out.Node.Memory = &v[0].F
	}
	if v, err := s.vector(ctx, fmt.Sprintf(`rate(container_memory_failures_total{failure_type="pgmajfault",id="/",node=%s}[%s])`, quote(name), rateWindow(rng)), rng.End); err == nil && len(v) > 0 {
		out.Node.MajorFaults = &v[0].F
	}
	owners := s.o.Cluster.Owners()
	for _, p := range s.o.Cluster.PodsOn(name) {
		if !active(p) {
			continue
		}
		row := podRow{Namespace: p.Namespace, Name: p.Name, Owner: owners.Resolve(p), Phase: p.Phase, QOS: p.QOS,
			Request: p.MemoryRequest, Limit: p.MemoryLimit, Restarts: p.Restarts}
		if v, ok := used[p.Key()]; ok {
			row.Memory = &v
		}
		out.Node.Pods++
		if p.MemoryRequest != nil {
			out.Node.Requests += *p.MemoryRequest
		}
		if p.MemoryLimit != nil {
			out.Node.Limits += *p.MemoryLimit
		} else {
			out.Node.NoLimit++
		}
		out.Pods = append(out.Pods, row)
	}
	slices.SortFunc(out.Pods, func(a, b podRow) int {
		return cmp.Or(cmp.Compare(deref(b.Memory), deref(a.Memory)), strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	out.Memory, err = s.nodeMemory(ctx, name, rng)
	warn(err)
	out.Memory.Levels = []level{{Name: "allocatable", Value: float64(out.Node.Allocatable)}}
	if s.o.Events != nil {
		evs, err := s.o.Events.Events("Node", "", name, rng.Start)
		warn(err)
		out.Events = eventRows(evs, "")
	}
	return out, nil
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// nodeMemory is the node's pods' working sets stacked (the heaviest
// maxBands on their own) with its major-page-fault rate overlaid.
func (s *server) nodeMemory(ctx context.Context, node string, rng timeRange) (chart, error) {
	c := chart{Unit: "bytes", Stacked: true, Series: []series{}}
	m, err := s.matrix(ctx, fmt.Sprintf(`sum by (namespace, pod) (container_memory_working_set_bytes{node=%s,container!=""})`, quote(node)), rng)
	if err != nil {
		return c, err
	}
	if bands := topSeries(m, func(sr promql.Series) string { return sr.Metric.Get("namespace") + "/" + sr.Metric.Get("pod") }, maxBands, "other pods"); bands != nil {
		c.Series = bands
	}
	pf, err := s.matrix(ctx, fmt.Sprintf(`rate(container_memory_failures_total{failure_type="pgmajfault",id="/",node=%s}[%s])`, quote(node), rateWindow(rng)), rng)
	if err != nil {
		return c, err
	}
	if len(pf) > 0 {
		c.Overlay = &overlay{Unit: "faults/s", Series: series{Name: "major page faults/s", Points: points(pf[0].Floats)}}
	}
	return c, nil
}

// timeline lays the node's incidents and its current state in lanes:
// Ready (NotReady, flapping, deleted), Lease (missed renewals) and Pressure.
func timeline(n nodeRow, incs []*incident.Incident, rng timeRange) []segment {
	out := []segment{}
	covered := false
	for _, i := range incs {
		start := i.Start
		if !i.Since.IsZero() && i.Since.Before(start) {
			start = i.Since
		}
		if i.End != nil && i.End.Before(rng.Start) || start.After(rng.End) {
			continue
		}
		lane := "Ready"
		switch i.Rule {
		case detect.NodeLeaseStale:
			lane = "Lease"
		case detect.NodePressure:
			lane = "Pressure"
		}
		label := i.Rule
		if i.Reason != "" {
			label += ": " + i.Reason
		}
		out = append(out, segment{Lane: lane, Start: start, End: i.End, Label: label, Severity: i.Severity, Incident: i.ID})
		if lane == "Ready" && i.End == nil {
			covered = true
		}
	}
	// A node not Ready without an open incident (e.g. before nodewatch
	// started) still shows as down.
	if n.Ready != "" && n.Ready != "True" && !covered && n.Since != nil {
		out = append(out, segment{Lane: "Ready", Start: *n.Since, Label: "Ready=" + n.Ready + " " + n.Reason, Severity: "critical"})
	}
	return out
}

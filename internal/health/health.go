// Package health evaluates a cluster snapshot the way the story's cron job
// did, done right: which nodes are not Ready (or under pressure, or
// cordoned), which pods were on each of them and which pods cannot be
// scheduled at all. Evaluate is a pure function of the snapshot and the
// time; rendering lives in text.go and in package report.
package health

import (
	"cmp"
	"slices"
	"time"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

// Report is the result of a check. Its JSON form is nodewatch's documented
// check schema (docs/check-schema.md); fields are only ever added.
type Report struct {
	// Healthy is true when no node has a problem and every pod can be scheduled.
	Healthy   bool      `json:"healthy"`
	CheckedAt time.Time `json:"checkedAt"`
	NodeCount int       `json:"nodeCount"`
	PodCount  int       `json:"podCount"`
	// Nodes lists only the nodes with problems, by name.
	Nodes []NodeReport `json:"nodes"`
	// Unschedulable lists pods the scheduler could not place.
	Unschedulable []PodReport `json:"unschedulable"`
}

// NodeReport is one node with problems.
type NodeReport struct {
	Name string `json:"name"`
	// Ready is the Ready condition's status: "True", "False" or "Unknown"
	// (also "Unknown" when the node reports no Ready condition at all).
	Ready   string     `json:"ready"`
	Reason  string     `json:"reason"`
	Message string     `json:"message"`
	Since   *time.Time `json:"since"`
	// Problems names each finding: NotReady, MemoryPressure, DiskPressure,
	// PIDPressure, NetworkUnavailable, Cordoned.
	Problems []string `json:"problems"`
	// Conditions are the node's conditions as reported.
	Conditions []cluster.Condition `json:"conditions"`
	// Pods are the non-terminated pods bound to the node.
	Pods []PodReport `json:"pods"`
	// LikelyCause is the daemon's explanation of a failure from the
	// history before it (see package analyze/cause); absent when the
	// history shows nothing to blame.
	LikelyCause *Cause `json:"likelyCause,omitempty"`
}

// Cause names what most likely brought a node down.
type Cause struct {
	// Summary is the sentence alerts carry.
	Summary string `json:"summary"`
	// Namespace, Kind and Name are the workload of the pod whose memory
	// grew (empty when the cause is thrashing alone); Pod is that pod.
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Pod       string `json:"pod,omitempty"`
	// GrowthBytesPerHour is its robust growth rate over GrowthSeconds.
	GrowthBytesPerHour float64 `json:"growthBytesPerHour,omitempty"`
	GrowthSeconds      float64 `json:"growthSeconds,omitempty"`
	// MemoryAtFailure is its last working set; MemoryLimit its limit (null: none).
	MemoryAtFailure int64  `json:"memoryAtFailure,omitempty"`
	MemoryLimit     *int64 `json:"memoryLimit,omitempty"`
	// PageFaultRatio is the node's major-page-fault rate in the minutes
	// before the failure over its baseline (0: no thrashing seen).
	PageFaultRatio      float64 `json:"pageFaultRatio,omitempty"`
	PageFaultsPerSecond float64 `json:"pageFaultsPerSecond,omitempty"`
	// Evidence lists what else the history showed.
	Evidence []string `json:"evidence,omitempty"`
}

// PodReport is one pod.
type PodReport struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Owner     cluster.Owner `json:"owner"`
	Phase     string        `json:"phase"`
	QOS       string        `json:"qos"`
	// MemoryRequest and MemoryLimit are bytes; null means none is set (a
	// null limit means the pod may grow until its node runs out of memory).
	MemoryRequest *int64 `json:"memoryRequest"`
	MemoryLimit   *int64 `json:"memoryLimit"`
	Restarts      int32  `json:"restarts"`
	// Message and Since are set for unschedulable pods: the scheduler's
	// explanation and when it first failed.
	Message string     `json:"message,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// Problem names.
const (
	NotReady  = "NotReady"
	Cordoned  = "Cordoned"
	readyType = "Ready"
)

// pressure lists the node conditions that are problems when True.
var pressure = []string{"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"}

// Options narrow a check.
type Options struct {
	// Namespace limits the pods reported; empty means all namespaces.
	Namespace string
}

// Evaluate checks a snapshot at time now.
func Evaluate(s *cluster.Snapshot, opts Options, now time.Time) *Report {
	r := &Report{CheckedAt: now.UTC(), NodeCount: len(s.Nodes), Nodes: []NodeReport{}, Unschedulable: []PodReport{}}
	byNode := map[string]int{}
	for i := range s.Nodes {
		if nr, bad := evaluateNode(&s.Nodes[i]); bad {
			byNode[nr.Name] = len(r.Nodes)
			r.Nodes = append(r.Nodes, nr)
		}
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		if opts.Namespace != "" && p.Namespace != opts.Namespace {
			continue
		}
		r.PodCount++
		if p.Phase == "Succeeded" || p.Phase == "Failed" {
			continue
		}
		if p.NodeName == "" {
			if p.Unschedulable {
				pr := podReport(p, s.Owners)
				pr.Message = p.UnschedulableMessage
				pr.Since = timePtr(p.UnschedulableSince)
				r.Unschedulable = append(r.Unschedulable, pr)
			}
			continue
		}
		if i, ok := byNode[p.NodeName]; ok {
			r.Nodes[i].Pods = append(r.Nodes[i].Pods, podReport(p, s.Owners))
		}
	}
	slices.SortFunc(r.Nodes, func(a, b NodeReport) int { return cmp.Compare(a.Name, b.Name) })
	for i := range r.Nodes {
		slices.SortFunc(r.Nodes[i].Pods, comparePods)
	}
	slices.SortFunc(r.Unschedulable, comparePods)
	r.Healthy = len(r.Nodes) == 0 && len(r.Unschedulable) == 0
	return r
}

func evaluateNode(n *cluster.Node) (NodeReport, bool) {
	nr := NodeReport{Name: n.Name, Ready: "Unknown", Conditions: n.Conditions, Pods: []PodReport{}}
	if nr.Conditions == nil {
		nr.Conditions = []cluster.Condition{}
	}
	if c, ok := n.Condition(readyType); ok {
		nr.Ready, nr.Reason, nr.Message, nr.Since = c.Status, c.Reason, c.Message, timePtr(c.Since)
	} else {
		nr.Reason, nr.Message = "NoReadyCondition", "The node reports no Ready condition (a new node, or its kubelet never registered its status)."
	}
	if nr.Ready != "True" {
		nr.Problems = append(nr.Problems, NotReady)
	}
	for _, t := range pressure {
		if c, ok := n.Condition(t); ok && c.Status == "True" {
			nr.Problems = append(nr.Problems, t)
		}
	}
	if n.Unschedulable {
		nr.Problems = append(nr.Problems, Cordoned)
	}
	return nr, len(nr.Problems) > 0
}

func podReport(p *cluster.Pod, owners cluster.Owners) PodReport {
	return PodReport{
		Namespace: p.Namespace, Name: p.Name, Owner: owners.Resolve(p),
		Phase: p.Phase, QOS: p.QOS, MemoryRequest: p.MemoryRequest, MemoryLimit: p.MemoryLimit, Restarts: p.Restarts,
	}
}

func comparePods(a, b PodReport) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

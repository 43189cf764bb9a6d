// Package audit judges how a cluster's workloads declare memory and CPU —
// the gaps behind the story's outage, where a JVM job without a memory limit
// grew until nodes stopped responding — and says how to close each one.
//
// Run is a pure function of a cluster.Snapshot: every workload in every
// namespace (kube-system and third-party ones included) is checked for
// containers without a memory request, a memory limit or a CPU request and
// for BestEffort pods, after the defaults that its namespace's LimitRange
// gives new pods (a container without a limit is not missing one when the
// admission plugin would give it the default); namespaces for a LimitRange
// default and a ResourceQuota on memory; and nodes for memory requests and
// limits beyond allocatable and for pods without a memory limit side by side.
//
// Findings are per workload (pods grouped by cluster.Owners.Resolve), per
// namespace or per node, each with a severity and a one-line fix.
// Rendering lives in text.go and in package report; the JSON form is
// documented in docs/audit-schema.md.
package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

// Severity ranks findings.
type Severity string

// Severities, gravest first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// ParseSeverity validates a severity name.
func ParseSeverity(s string) (Severity, error) {
	switch v := Severity(s); v {
	case Critical, Warning, Info:
		return v, nil
	}
	return "", fmt.Errorf("unknown severity %q: use critical, warning or info", s)
}

func (s Severity) rank() int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// AtLeast reports whether s is as grave as t or graver.
func (s Severity) AtLeast(t Severity) bool { return s.rank() <= t.rank() }

// Checks, as findings name them.
const (
	// Workloads.
	BestEffort           = "BestEffort"
	MissingMemoryLimit   = "MissingMemoryLimit"
	MissingMemoryRequest = "MissingMemoryRequest"
	MissingCPURequest    = "MissingCPURequest"
	// LimitRangeDefaultNotApplied: pods that lack what their namespace's
	// LimitRange now gives new pods (they predate it).
	LimitRangeDefaultNotApplied = "LimitRangeDefaultNotApplied"
	// Namespaces.
	NoLimitRange    = "NamespaceWithoutLimitRange"
	NoResourceQuota = "NamespaceWithoutResourceQuota"
	// Nodes.
	RequestsOvercommitted = "NodeMemoryRequestsOvercommitted"
	LimitsOvercommitted   = "NodeMemoryLimitsOvercommitted"
	UnboundedTogether     = "UnboundedPodsTogether"
)

// Options narrow an audit.
type Options struct {
	// Namespace limits the audit to one namespace; empty means all. Node
	// checks need every pod on a node, so they are skipped when it is set.
	Namespace string
}

// Report is the result of an audit. Its JSON form is nodewatch's documented
// audit schema (docs/audit-schema.md); fields are only ever added.
type Report struct {
	AuditedAt time.Time `json:"auditedAt"`
	// Namespace is the -n scope; empty for all namespaces.
	Namespace  string `json:"namespace,omitempty"`
	Nodes      int    `json:"nodes"`
	Namespaces int    `json:"namespaces"`
	Workloads  int    `json:"workloads"`
	Pods       int    `json:"pods"`
	Critical   int    `json:"critical"`
	Warning    int    `json:"warning"`
	Info       int    `json:"info"`
	// Skipped says which checks did not run, and why.
	Skipped []string `json:"skipped"`
	// Findings are gravest first, then nodes, then by namespace and workload.
	Findings []Finding `json:"findings"`
}

// Finding is one problem and its fix.
type Finding struct {
	Severity Severity `json:"severity"`
	Check    string   `json:"check"`
	// Namespace is set for workload and namespace findings, Workload for
	// workload findings, Node for node findings.
	Namespace string         `json:"namespace,omitempty"`
	Workload  *cluster.Owner `json:"workload,omitempty"`
	Node      string         `json:"node,omitempty"`
	// Containers are the workload's containers the finding is about.
	Containers []ContainerRef `json:"containers,omitempty"`
	// Pods is how many of the workload's pods have the problem, of
	// PodsTotal.
	Pods      int `json:"pods,omitempty"`
	PodsTotal int `json:"podsTotal,omitempty"`
	// Message says what is wrong in one line, Detail why it matters.
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
	// Fix is one line: a command to run or a change to make.
	Fix string `json:"fix"`
	// Memory is a node's memory accounting, for node findings.
	Memory *NodeMemory `json:"memory,omitempty"`
}

// ContainerRef names a container; Type is app, init or sidecar.
type ContainerRef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// NodeMemory is a node's memory as its pods declare it, in bytes.
type NodeMemory struct {
	Allocatable int64 `json:"allocatable"`
	// Requests sums the pods' effective memory requests; Limits sums the
	// limits of the pods that have one.
	Requests int64 `json:"requests"`
	Limits   int64 `json:"limits"`
	// Unbounded are the pods with a container that has no memory limit.
	Unbounded []PodRef `json:"unbounded"`
}

// PodRef names a pod and its workload.
type PodRef struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Workload  cluster.Owner `json:"workload"`
}

// Run audits the snapshot. now stamps the report.
func Run(s *cluster.Snapshot, o Options, now time.Time) *Report {
	r := &Report{AuditedAt: now.UTC(), Namespace: o.Namespace, Nodes: len(s.Nodes), Skipped: []string{}, Findings: []Finding{}}
	a := newAuditor(s, o)
	r.Pods, r.Workloads, r.Namespaces = a.pods, len(a.workloads), len(a.namespaces)

	for _, w := range a.workloads {
		r.Findings = append(r.Findings, a.workload(w)...)
	}
	if s.Listed.LimitRanges || s.Listed.ResourceQuotas {
		r.Findings = append(r.Findings, a.namespaceFindings()...)
	}
	if !s.Listed.LimitRanges {
		r.Skipped = append(r.Skipped, "LimitRanges were not read (not in the dump, or access denied): their defaults are not taken into account and namespaces are not checked for one")
	}
	if !s.Listed.ResourceQuotas {
		r.Skipped = append(r.Skipped, "ResourceQuotas were not read (not in the dump, or access denied): namespaces are not checked for one")
	}
	if o.Namespace != "" {
		r.Skipped = append(r.Skipped, "node overcommit and unbounded pods side by side: they need every namespace's pods (run without -n)")
	} else {
		r.Findings = append(r.Findings, a.nodeFindings()...)
	}

	slices.SortStableFunc(r.Findings, func(x, y Finding) int {
		return cmp.Or(
			cmp.Compare(x.Severity.rank(), y.Severity.rank()),
			cmp.Compare(x.Node, y.Node),
			cmp.Compare(x.Namespace, y.Namespace),
			cmp.Compare(ownerKey(x.Workload), ownerKey(y.Workload)),
			cmp.Compare(x.Check, y.Check),
		)
	})
	for _, f := range r.Findings {
		switch f.Severity {
		case Critical:
			r.Critical++
		case Warning:
			r.Warning++
		default:
			r.Info++
		}
	}
	return r
}

func ownerKey(o *cluster.Owner) string {
	if o == nil {
		return ""
	}
	return o.Kind + "/" + o.Name
}

// Failing reports whether any finding is at least as grave as min.
func (r *Report) Failing(min Severity) bool {
	for _, f := range r.Findings {
		if f.Severity.AtLeast(min) {
			return true
		}
	}
	return false
}

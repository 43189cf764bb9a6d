// Package rebalance plans which pods to evict so that the scheduler spreads
// them over the nodes by what they actually use, not only by what they
// request: Kubernetes never moves a running pod, so nodes added to a
// cluster stay empty and lopsided usage stays lopsided until pods restart.
//
// Plan is a pure function of the cluster model, each pod's memory usage
// (e.g. its peak working set over the last hour; the request stands in for
// a pod without history), what the model does not keep (taints, labels,
// node selectors, tolerations) and the PodDisruptionBudgets. It repeatedly
// takes the most loaded node (memory usage as a share of allocatable,
// requests break ties) and moves one pod from it to the least loaded node
// that fits it, until no pair of nodes is Tolerance apart or MaxMoves is
// reached. A move is made when the gap between the two nodes is at least
// Tolerance and the pod either fits within the gap (the target does not end
// up above the source) or narrows it by at least Tolerance: small pods can
// fill an empty node step by step, and no pod swaps two nodes' roles for a
// trifle. The spread of the whole cluster (most minus least loaded share)
// is reported before and after; it cannot judge one move, since with two
// nodes empty, filling one leaves the least loaded share at zero.
//
// A target must fit the pod as the scheduler's filters would: memory and
// CPU requests within allocatable, the pod's nodeSelector, its required
// node affinity (nodeSelectorTerms: matchExpressions and matchFields on
// metadata.name) and the node's NoSchedule/NoExecute taints against its
// tolerations; cordoned and not-Ready nodes are never targets.
//
// Caveats: eviction only deletes a pod; its controller re-creates it and
// the scheduler places it by requests, so a target is an expectation, not
// a binding. Not modelled: preferred node affinity and PreferNoSchedule
// taints (they steer the scheduler's scores, not its filters), pod
// affinity and anti-affinity, topology spread constraints, host ports,
// volumes bound to a zone or node, and extended resources; usage outside
// pods (the system, the kubelet) is not counted.
package rebalance

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

// Options bound a plan.
type Options struct {
	// Namespace limits the pods that may move ("" for all). Pods of every
	// namespace count towards the nodes' load either way.
	Namespace string
	// IncludeKubeSystem lets pods of kube-system move when Namespace is "".
	// Namespace "kube-system" asks for them too.
	IncludeKubeSystem bool
	// MaxMoves is the most evictions a plan proposes.
	MaxMoves int
	// Tolerance is the gap between two nodes' usage shares below which
	// they count as balanced, as a share of allocatable (0.05 is five
	// percentage points).
	Tolerance float64
}

// DefaultOptions are the command's defaults.
func DefaultOptions() Options { return Options{MaxMoves: 20, Tolerance: 0.05} }

// Validate names every bad field.
func (o Options) Validate() error {
	var errs []error
	if o.MaxMoves < 0 {
		errs = append(errs, fmt.Errorf("MaxMoves must not be negative, got %d", o.MaxMoves))
	}
	if o.Tolerance <= 0 || o.Tolerance >= 1 {
		errs = append(errs, fmt.Errorf("Tolerance must be between 0 and 1 (a share of allocatable), got %g", o.Tolerance)) //nolint:staticcheck // ST1005: names the field, as MaxMoves above
	}
	return errors.Join(errs...)
}

// Taint is a node taint.
type Taint struct{ Key, Value, Effect string }

// Toleration is a pod toleration.
type Toleration struct{ Key, Operator, Value, Effect string }

// NodeInfo is what placement needs of a node beyond the model.
type NodeInfo struct {
	Labels map[string]string
	Taints []Taint
	// AllocatableMilliCPU is 0 when unknown (CPU requests then not checked).
	AllocatableMilliCPU int64
}

// PodInfo is what placement needs of a pod beyond the model.
type PodInfo struct {
	Labels, NodeSelector map[string]string
	// RequiredAffinity is the pod's
	// requiredDuringSchedulingIgnoredDuringExecution node affinity: a
	// node must satisfy one of the terms (none: any node).
	RequiredAffinity []NodeSelectorTerm
	Tolerations      []Toleration
	// Mirror is set for the API server's copy of a static pod.
	Mirror bool
}

// PDB is a PodDisruptionBudget: its pods and how many of them may be
// evicted now. A nil Selector selects no pod; an empty one every pod of the
// namespace, as in policy/v1.
type PDB struct {
	Namespace, Name    string
	Selector           labels.Selector
	DisruptionsAllowed int32
}

// Input is what a plan is made from.
type Input struct {
	Snapshot *cluster.Snapshot
	// Usage is each pod's memory usage in bytes by namespace/name; a pod
	// without an entry counts with its memory request.
	Usage map[string]int64
	// Nodes and Pods are keyed by node name and namespace/name. When nil,
	// taints, node selectors and tolerations are not checked.
	Nodes map[string]NodeInfo
	Pods  map[string]PodInfo
	PDBs  []PDB
}

// Move is one planned eviction.
type Move struct {
	// Wave counts the moves of the same workload: 1 for its first, 2 for
	// the next (evicted only after the workload is whole again), ...
	Wave      int           `json:"wave"`
	Namespace string        `json:"namespace"`
	Pod       string        `json:"pod"`
	Workload  cluster.Owner `json:"workload"`
	From      string        `json:"from"`
	// To is where the pod is expected to land; the scheduler decides.
	To            string `json:"expectedTarget"`
	Usage         int64  `json:"usageBytes"`
	UsageSource   string `json:"usageSource"` // history or request
	MemoryRequest int64  `json:"memoryRequestBytes"`
	Reason        string `json:"reason"`
}

// Usage sources.
const (
	SourceHistory = "history"
	SourceRequest = "request"
)

// NodeLoad is one node's expected memory usage and requests before and
// after the plan.
type NodeLoad struct {
	Name           string  `json:"name"`
	Allocatable    int64   `json:"allocatableBytes"`
	Balanced       bool    `json:"balanced"` // false: cordoned, not Ready or no allocatable; never a target
	UsageBefore    int64   `json:"usageBeforeBytes"`
	UsageAfter     int64   `json:"usageAfterBytes"`
	ShareBefore    float64 `json:"usageShareBefore"`
	ShareAfter     float64 `json:"usageShareAfter"`
	RequestsBefore int64   `json:"requestsBeforeBytes"`
	RequestsAfter  int64   `json:"requestsAfterBytes"`
	PodsBefore     int     `json:"podsBefore"`
	PodsAfter      int     `json:"podsAfter"`
}

// Held is a workload whose pods the plan does not move, and why.
type Held struct {
	Namespace string        `json:"namespace"`
	Workload  cluster.Owner `json:"workload"`
	Pods      int           `json:"pods"`
	Reason    string        `json:"reason"`
}

// Plan is the result.
type Plan struct {
	Moves        []Move     `json:"moves"`
	Nodes        []NodeLoad `json:"nodes"`
	SpreadBefore float64    `json:"spreadBefore"`
	SpreadAfter  float64    `json:"spreadAfter"`
	Held         []Held     `json:"held"`
	Assumptions  []string   `json:"assumptions"`
}

// Reasons a pod is held.
const (
	HeldDaemonSet = "DaemonSet pod: it belongs on its node"
	HeldStatic    = "static (mirror) pod: the kubelet runs it from a file on its node"
	HeldBare      = "no controller: an evicted bare pod would not come back"
	HeldJob       = "Job pod: eviction would restart its run"
	heldPDB       = "PodDisruptionBudget %s allows %d disruption(s) now"
)

type nodeState struct {
	cluster.Node
	info                 NodeInfo
	balanced             bool
	usage, requests, cpu int64
	pods                 int
	before               NodeLoad
}

func (n *nodeState) share() float64    { return float64(n.usage) / float64(n.AllocatableMemory) }
func (n *nodeState) reqShare() float64 { return float64(n.requests) / float64(n.AllocatableMemory) }
func (n *nodeState) shareWith(d int64) float64 {
	return float64(n.usage+d) / float64(n.AllocatableMemory)
}

type podState struct {
	*cluster.Pod
	info            PodInfo
	workload        cluster.Owner
	usage, req, cpu int64
	source          string
	node            string
	moved           bool
	held            string
	pdbs            []int
}

// Make plans the evictions.
func Make(in Input, o Options) Plan {
	s := in.Snapshot
	if s == nil {
		s = cluster.NewSnapshot()
	}
	nodes := map[string]*nodeState{}
	var order []*nodeState
	for _, n := range s.Nodes {
		ns := &nodeState{Node: n, info: in.Nodes[n.Name]}
		ready, ok := n.Condition("Ready")
		ns.balanced = !n.Unschedulable && n.AllocatableMemory > 0 && ok && ready.Status == "True"
		nodes[n.Name] = ns
		order = append(order, ns)
	}
	var pods []*podState
	onNode := map[string][]*podState{} // the pods a node may lose
	for i := range s.Pods {
		p := &s.Pods[i]
		n := nodes[p.NodeName]
		if n == nil || p.Phase == "Succeeded" || p.Phase == "Failed" {
			continue
		}
		ps := &podState{Pod: p, info: in.Pods[p.Key()], workload: s.Owners.Resolve(p), node: p.NodeName}
		if p.MemoryRequest != nil {
			ps.req = *p.MemoryRequest
		}
		ps.cpu = cpuRequest(p.Containers)
		ps.usage, ps.source = ps.req, SourceRequest
		if u, ok := in.Usage[p.Key()]; ok {
			ps.usage, ps.source = u, SourceHistory
		}
		n.usage += ps.usage
		n.requests += ps.req
		n.cpu += ps.cpu
		n.pods++
		pods = append(pods, ps)
		onNode[ps.node] = append(onNode[ps.node], ps)
	}
	for _, n := range order {
		n.before = NodeLoad{Name: n.Name, Allocatable: n.AllocatableMemory, Balanced: n.balanced,
			UsageBefore: n.usage, RequestsBefore: n.requests, PodsBefore: n.pods}
	}

	// Which pods may move at all, and the PDBs over each.
	held := map[string]*Held{}
	hold := func(p *podState, reason string) {
		p.held = reason
		k := p.Namespace + "/" + p.workload.Kind + "/" + p.workload.Name + "/" + reason
		if h := held[k]; h != nil {
			h.Pods++
			return
		}
		held[k] = &Held{Namespace: p.Namespace, Workload: p.workload, Pods: 1, Reason: reason}
	}
	for _, p := range pods {
		switch {
		case !inScope(p.Namespace, o) || p.Phase != "Running" || p.Deleting:
			p.held = "out of scope"
		case p.Owner.Kind == "DaemonSet":
			hold(p, HeldDaemonSet)
		case p.Owner.Kind == "Node" || p.info.Mirror:
			hold(p, HeldStatic)
		case p.Owner.Kind == "":
			hold(p, HeldBare)
		case p.Owner.Kind == "Job":
			hold(p, HeldJob)
		}
		if p.held != "" {
			continue
		}
		for i, b := range in.PDBs {
			if b.Namespace == p.Namespace && b.Selector != nil && b.Selector.Matches(labels.Set(p.info.Labels)) {
				p.pdbs = append(p.pdbs, i)
				if b.DisruptionsAllowed <= 0 {
					hold(p, fmt.Sprintf(heldPDB, b.Name, b.DisruptionsAllowed))
					break
				}
			}
		}
	}

	var balanced []*nodeState
	for _, n := range order {
		if n.balanced {
			balanced = append(balanced, n)
		}
	}
	byLoad := func(a, b *nodeState) int {
		return cmp.Or(cmp.Compare(a.share(), b.share()), cmp.Compare(a.reqShare(), b.reqShare()), strings.Compare(a.Name, b.Name))
	}
	spread := func() float64 {
		if len(balanced) < 2 {
			return 0
		}
		lo, hi := balanced[0].share(), balanced[0].share()
		for _, n := range balanced[1:] {
			lo, hi = min(lo, n.share()), max(hi, n.share())
		}
		return hi - lo
	}
	plan := Plan{Moves: []Move{}, Held: []Held{}, SpreadBefore: spread()}
	waves := map[string]int{}     // workload → moves so far
	pdbUsed := map[[2]int]int32{} // (pdb, wave) → evictions planned
	for len(plan.Moves) < o.MaxMoves && len(balanced) >= 2 {
		slices.SortFunc(balanced, byLoad)
		type candidate struct {
			p    *podState
			to   *nodeState
			gain float64
			wave int
		}
		var best *candidate
		for i := len(balanced) - 1; i > 0 && best == nil; i-- {
			src := balanced[i]
			for _, p := range onNode[src.Name] {
				if p.moved || p.held != "" || p.usage <= 0 {
					continue
				}
				wk := p.Namespace + "/" + p.workload.Kind + "/" + p.workload.Name
				wave := waves[wk] + 1
				if !pdbAllows(p, wave, in.PDBs, pdbUsed) {
					continue
				}
				var to *nodeState
				for _, t := range balanced[:i] { // least loaded first
					if fits(p, t, in.Nodes != nil) {
						to = t
						break
					}
				}
				if to == nil {
					continue
				}
				gap := src.share() - to.share()
				after := src.shareWith(-p.usage) - to.shareWith(p.usage)
				gain := gap - max(after, -after)
				if gap < o.Tolerance || gain <= 0 || (after < 0 && gain < o.Tolerance) {
					continue
				}
				c := &candidate{p, to, gain, wave}
				if best == nil || c.gain > best.gain || (c.gain == best.gain && p.usage < best.p.usage) {
					best = c
				}
			}
		}
		if best == nil {
			break
		}
		p, from, to := best.p, nodes[best.p.node], best.to
		reason := fmt.Sprintf("%s is the most loaded node a pod can leave (%.0f%% of allocatable in use), %s the least loaded that fits it (%.0f%%): the gap narrows from %.0f to %.0f points",
			from.Name, 100*from.share(), to.Name, 100*to.share(), 100*(from.share()-to.share()), 100*(from.share()-to.share()-best.gain))
		from.usage -= p.usage
		from.requests -= p.req
		from.cpu -= p.cpu
		from.pods--
		to.usage += p.usage
		to.requests += p.req
		to.cpu += p.cpu
		to.pods++
		p.node, p.moved = to.Name, true
		waves[p.Namespace+"/"+p.workload.Kind+"/"+p.workload.Name] = best.wave
		for _, i := range p.pdbs {
			pdbUsed[[2]int{i, best.wave}]++
		}
		plan.Moves = append(plan.Moves, Move{Wave: best.wave, Namespace: p.Namespace, Pod: p.Name, Workload: p.workload,
			From: from.Name, To: to.Name, Usage: p.usage, UsageSource: p.source, MemoryRequest: p.req, Reason: reason})
	}
	plan.SpreadAfter = spread()
	slices.SortStableFunc(plan.Moves, func(a, b Move) int { return cmp.Compare(a.Wave, b.Wave) })
	for _, n := range order {
		l := n.before
		l.UsageAfter, l.RequestsAfter, l.PodsAfter = n.usage, n.requests, n.pods
		if n.AllocatableMemory > 0 {
			l.ShareBefore, l.ShareAfter = float64(l.UsageBefore)/float64(n.AllocatableMemory), n.share()
		}
		plan.Nodes = append(plan.Nodes, l)
	}
	slices.SortFunc(plan.Nodes, func(a, b NodeLoad) int { return strings.Compare(a.Name, b.Name) })
	for _, h := range held {
		plan.Held = append(plan.Held, *h)
	}
	slices.SortFunc(plan.Held, func(a, b Held) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload.Kind, b.Workload.Kind),
			strings.Compare(a.Workload.Name, b.Workload.Name), strings.Compare(a.Reason, b.Reason))
	})
	plan.Assumptions = assumptions(in, o)
	return plan
}

func inScope(ns string, o Options) bool {
	if o.Namespace != "" {
		return ns == o.Namespace
	}
	return ns != "kube-system" || o.IncludeKubeSystem
}

func assumptions(in Input, o Options) []string {
	out := []string{
		"eviction only deletes a pod: its controller re-creates it and the scheduler places it by requests, so targets are expected, not bound",
		"pod (anti-)affinity, topology spread constraints, preferred node affinity, host ports and zonal volumes are not modelled",
		"node usage is the sum of its pods' usage (peak working set, or the memory request without history); system usage outside pods is not counted",
	}
	if in.Nodes == nil || in.Pods == nil {
		out = append(out, "taints, node selectors, required node affinity and tolerations were not read: the plan assumes the scheduler places a pod wherever its requests fit")
	}
	if o.Namespace == "" && !o.IncludeKubeSystem {
		out = append(out, "kube-system pods are never moved unless asked for (-n kube-system)")
	}
	return out
}

// pdbAllows says whether one more eviction of p in wave fits every PDB over
// it: a budget is spent per wave, since the workloads are whole again
// before the next.
func pdbAllows(p *podState, wave int, pdbs []PDB, used map[[2]int]int32) bool {
	for _, i := range p.pdbs {
		if used[[2]int{i, wave}] >= pdbs[i].DisruptionsAllowed {
			return false
		}
	}
	return true
}

// fits says whether the scheduler could place p on n: memory (and CPU,
// when known) requests within allocatable, and, when known, its node
// selector, its required node affinity and the node's NoSchedule and
// NoExecute taints (PreferNoSchedule only steers the scheduler).
func fits(p *podState, n *nodeState, placement bool) bool {
	if n.requests+p.req > n.AllocatableMemory {
		return false
	}
	if placement {
		if c := n.info.AllocatableMilliCPU; c > 0 && n.cpu+p.cpu > c {
			return false
		}
		for k, v := range p.info.NodeSelector {
			if have, ok := n.info.Labels[k]; !ok || have != v {
				return false
			}
		}
		if !affinityAllows(p.info.RequiredAffinity, n.Name, n.info.Labels) {
			return false
		}
		for _, t := range n.info.Taints {
			if (t.Effect == "NoSchedule" || t.Effect == "NoExecute") && !tolerated(t, p.info.Tolerations) {
				return false
			}
		}
	}
	return true
}

func tolerated(t Taint, ts []Toleration) bool {
	for _, tol := range ts {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key == "" && tol.Operator == "Exists" {
			return true
		}
		if tol.Key != t.Key {
			continue
		}
		if tol.Operator == "Exists" || tol.Value == t.Value {
			return true
		}
	}
	return false
}

// cpuRequest is the pod's effective CPU request in millicores.
func cpuRequest(cs []cluster.Container) int64 {
	var sum, initMax int64
	for _, c := range cs {
		if c.Requests.MilliCPU == nil {
			continue
		}
		if c.Init && !c.Sidecar {
			initMax = max(initMax, *c.Requests.MilliCPU)
		} else {
			sum += *c.Requests.MilliCPU
		}
	}
	return max(sum, initMax)
}

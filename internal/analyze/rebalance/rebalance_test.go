package rebalance

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

const gi = int64(1) << 30

func node(name string, alloc int64) cluster.Node {
	return cluster.Node{Name: name, AllocatableMemory: alloc, Conditions: []cluster.Condition{{Type: "Ready", Status: "True"}}}
}

// deployment returns n running pods of a Deployment on the given nodes
// (round robin), each requesting req.
func deployment(ns, name string, req int64, nodes ...string) []cluster.Pod {
	var out []cluster.Pod
	for i, n := range nodes {
		r := req
		out = append(out, cluster.Pod{Namespace: ns, Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", name, i), NodeName: n, Phase: "Running",
			Owner: cluster.Owner{Kind: "ReplicaSet", Name: name + "-7d9f8c6b5"}, TemplateHash: "7d9f8c6b5", MemoryRequest: &r})
	}
	return out
}

func input(nodes []cluster.Node, pods ...[]cluster.Pod) Input {
	s := cluster.NewSnapshot()
	s.Nodes = nodes
	for _, p := range pods {
		s.Pods = append(s.Pods, p...)
	}
	return Input{Snapshot: s, Usage: map[string]int64{}}
}

func moved(p Plan) map[string]Move {
	out := map[string]Move{}
	for _, m := range p.Moves {
		out[m.Namespace+"/"+m.Pod] = m
	}
	return out
}

func TestEmptyNodesGetMoves(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 16*gi), node("old-1", 16*gi), node("new-0", 16*gi), node("new-1", 16*gi)}
	in := input(nodes,
		deployment("web", "api", gi, "old-0", "old-1", "old-0", "old-1"),
		deployment("web", "cache", 2*gi, "old-0", "old-1", "old-0", "old-1"),
	)
	// History says the api pods use 3 GiB each, more than they request.
	for _, p := range in.Snapshot.Pods {
		if strings.HasPrefix(p.Name, "api-") {
			in.Usage[p.Key()] = 3 * gi
		}
	}
	p := Make(in, DefaultOptions())
	if len(p.Moves) == 0 {
		t.Fatalf("no moves onto two empty nodes: %+v", p)
	}
	landed := map[string]int{}
	for _, m := range p.Moves {
		if !strings.HasPrefix(m.From, "old-") || !strings.HasPrefix(m.To, "new-") {
			t.Errorf("move %s %s → %s, want old → new", m.Pod, m.From, m.To)
		}
		landed[m.To]++
	}
	if landed["new-0"] == 0 || landed["new-1"] == 0 {
		t.Errorf("moves land on %v, want both new nodes", landed)
	}
	if p.SpreadAfter >= p.SpreadBefore || p.SpreadAfter > 0.15 {
		t.Errorf("spread %.2f → %.2f, want it narrowed below 0.15", p.SpreadBefore, p.SpreadAfter)
	}
	// The api pods (3 GiB used, from history) count by usage, not request.
	for _, m := range p.Moves {
		if strings.HasPrefix(m.Pod, "api-") && (m.Usage != 3*gi || m.UsageSource != SourceHistory || m.MemoryRequest != gi) {
			t.Errorf("api move %+v, want usage 3 GiB from history and request 1 GiB", m)
		}
		if strings.HasPrefix(m.Pod, "cache-") && (m.Usage != 2*gi || m.UsageSource != SourceRequest) {
			t.Errorf("cache move %+v, want the 2 GiB request standing in for usage", m)
		}
	}
	var before, after int64
	for _, n := range p.Nodes {
		before, after = before+n.UsageBefore, after+n.UsageAfter
		if strings.HasPrefix(n.Name, "new-") && (n.UsageBefore != 0 || n.UsageAfter == 0) {
			t.Errorf("%s usage %d → %d, want 0 → more", n.Name, n.UsageBefore, n.UsageAfter)
		}
	}
	if before != after || before != 4*3*gi+4*2*gi {
		t.Errorf("total usage %d → %d, want 20 GiB before and after", before, after)
	}
}

// Pods far smaller than the tolerance still fill an empty node, each
// within the gap; the plan stops once the nodes are within the tolerance.
func TestSmallPodsFillAnEmptyNode(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 64*gi), node("new-0", 64*gi)}
	var pods [][]cluster.Pod
	for w := range 10 {
		pods = append(pods, deployment("web", fmt.Sprintf("w%d", w), gi/2, "old-0", "old-0", "old-0", "old-0"))
	}
	p := Make(input(nodes, pods...), Options{MaxMoves: 100, Tolerance: 0.05})
	if len(p.Moves) < 15 || p.SpreadAfter >= 0.05 || p.SpreadBefore < 0.3 {
		t.Errorf("%d moves of 0.8-point pods, spread %.3f → %.3f: want the gap closed below 5 points", len(p.Moves), p.SpreadBefore, p.SpreadAfter)
	}
}

func TestOneReplicaPerWorkloadPerWave(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 16*gi), node("new-0", 16*gi), node("new-1", 16*gi)}
	in := input(nodes, deployment("web", "api", 2*gi, "old-0", "old-0", "old-0", "old-0", "old-0", "old-0"))
	p := Make(in, DefaultOptions())
	if len(p.Moves) < 2 {
		t.Fatalf("%d moves, want several of the one workload", len(p.Moves))
	}
	for i, m := range p.Moves {
		if m.Wave != i+1 {
			t.Errorf("move %d of the one workload in wave %d, want %d (one replica per wave)", i, m.Wave, i+1)
		}
	}
	// Two workloads: each wave holds at most one pod of each.
	in = input(nodes, deployment("web", "api", 2*gi, "old-0", "old-0", "old-0"), deployment("web", "db", 2*gi, "old-0", "old-0", "old-0"))
	p = Make(in, DefaultOptions())
	seen := map[string]bool{}
	for _, m := range p.Moves {
		k := fmt.Sprint(m.Wave, m.Workload)
		if seen[k] {
			t.Errorf("two pods of %v in wave %d", m.Workload, m.Wave)
		}
		seen[k] = true
	}
	if len(p.Moves) < 2 || p.Moves[0].Wave != 1 || p.Moves[1].Wave != 1 {
		t.Errorf("moves %+v, want both workloads in wave 1 first", p.Moves)
	}
}

func TestPDBWithoutDisruptionsBlocks(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 16*gi), node("new-0", 16*gi)}
	in := input(nodes, deployment("web", "db", 3*gi, "old-0", "old-0", "old-0"), deployment("web", "api", gi, "old-0", "old-0"))
	in.Pods = map[string]PodInfo{}
	for _, p := range in.Snapshot.Pods {
		app := strings.SplitN(p.Name, "-", 2)[0]
		in.Pods[p.Key()] = PodInfo{Labels: map[string]string{"app": app}}
	}
	in.Nodes = map[string]NodeInfo{}
	in.PDBs = []PDB{{Namespace: "web", Name: "db", Selector: labels.SelectorFromSet(labels.Set{"app": "db"}), DisruptionsAllowed: 0}}
	p := Make(in, DefaultOptions())
	for _, m := range p.Moves {
		if m.Workload.Name == "db" {
			t.Errorf("moved %s, whose PDB allows no disruption", m.Pod)
		}
	}
	if len(p.Moves) == 0 {
		t.Error("the api pods, under no PDB, did not move")
	}
	if len(p.Held) != 1 || p.Held[0].Workload.Name != "db" || p.Held[0].Pods != 3 || !strings.Contains(p.Held[0].Reason, "PodDisruptionBudget db allows 0") {
		t.Errorf("held %+v, want the 3 db pods held by their PDB", p.Held)
	}

	// An empty selector covers the whole namespace (policy/v1).
	in.PDBs[0].Selector = labels.Everything()
	if p := Make(in, DefaultOptions()); len(p.Moves) != 0 {
		t.Errorf("a PDB over all of web allowing none: moves %+v", p.Moves)
	}

	// A budget of 1 lets one db pod go per wave.
	in.PDBs[0].DisruptionsAllowed = 1
	in.PDBs[0].Selector = labels.SelectorFromSet(labels.Set{"app": "db"})
	p = Make(in, DefaultOptions())
	waves := map[int]int{}
	for _, m := range p.Moves {
		if m.Workload.Name == "db" {
			waves[m.Wave]++
		}
	}
	if len(waves) == 0 {
		t.Error("no db pod moved with a budget of 1")
	}
	for w, n := range waves {
		if n > 1 {
			t.Errorf("wave %d evicts %d db pods, the PDB allows 1", w, n)
		}
	}
}

func TestNeverMoved(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 16*gi), node("new-0", 16*gi)}
	r := 4 * gi
	s := []cluster.Pod{
		{Namespace: "monitoring", Name: "exporter-abcde", NodeName: "old-0", Phase: "Running", Owner: cluster.Owner{Kind: "DaemonSet", Name: "exporter"}, MemoryRequest: &r},
		{Namespace: "monitoring", Name: "etcd-old-0", NodeName: "old-0", Phase: "Running", Owner: cluster.Owner{Kind: "Node", Name: "old-0"}, MemoryRequest: &r},
		{Namespace: "web", Name: "debug", NodeName: "old-0", Phase: "Running", MemoryRequest: &r},
		{Namespace: "batch", Name: "report-x1-abcde", NodeName: "old-0", Phase: "Running", Owner: cluster.Owner{Kind: "Job", Name: "report-x1"}, MemoryRequest: &r},
	}
	in := input(nodes, s, deployment("kube-system", "coredns", 4*gi, "old-0"))
	p := Make(in, DefaultOptions())
	if len(p.Moves) != 0 {
		t.Errorf("moves %+v, want none: DaemonSet, static, bare, Job and kube-system pods stay", p.Moves)
	}
	reasons := map[string]string{}
	for _, h := range p.Held {
		reasons[h.Workload.Kind] = h.Reason
	}
	for kind, want := range map[string]string{"DaemonSet": HeldDaemonSet, "Node": HeldStatic, "Pod": HeldBare, "Job": HeldJob} {
		if reasons[kind] != want {
			t.Errorf("%s held for %q, want %q", kind, reasons[kind], want)
		}
	}
	if p.Nodes[1].UsageBefore != 5*4*gi || p.SpreadBefore < 1.2 {
		t.Errorf("old-0 usage %d, spread %.2f: held pods must still count towards the load", p.Nodes[1].UsageBefore, p.SpreadBefore)
	}
	// Asked for, kube-system's Deployment moves.
	p = Make(in, Options{Namespace: "kube-system", MaxMoves: 5, Tolerance: 0.05})
	if len(p.Moves) != 1 || p.Moves[0].Workload.Name != "coredns" {
		t.Errorf("-n kube-system: moves %+v, want coredns", p.Moves)
	}
}

func TestBalancedClusterHasNoMoves(t *testing.T) {
	nodes := []cluster.Node{node("a", 16*gi), node("b", 16*gi), node("c", 16*gi)}
	in := input(nodes, deployment("web", "api", 2*gi, "a", "b", "c", "a", "b", "c"))
	p := Make(in, DefaultOptions())
	if len(p.Moves) != 0 || p.SpreadBefore != 0 || p.SpreadAfter != 0 {
		t.Errorf("balanced: moves %+v spread %.2f → %.2f, want none", p.Moves, p.SpreadBefore, p.SpreadAfter)
	}
	// Off by one pod of 1/8 of a node: moving it would only swap the roles.
	in = input(nodes, deployment("web", "api", 2*gi, "a", "b", "c", "a"))
	if p := Make(in, DefaultOptions()); len(p.Moves) != 0 {
		t.Errorf("one extra pod: moves %+v, want none (a move would not narrow the spread)", p.Moves)
	}
}

func TestPlacement(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 16*gi), node("gpu-0", 16*gi), node("small-0", 4*gi), node("cordoned", 16*gi)}
	nodes[3].Unschedulable = true
	in := input(nodes, deployment("web", "api", 3*gi, "old-0", "old-0", "old-0", "old-0"))
	in.Nodes = map[string]NodeInfo{"gpu-0": {Taints: []Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}}}}
	in.Pods = map[string]PodInfo{}
	p := Make(in, Options{MaxMoves: 10, Tolerance: 0.01})
	for _, m := range p.Moves {
		if m.To != "small-0" {
			t.Errorf("move to %s, want small-0 only: gpu-0 is tainted, cordoned is cordoned", m.To)
		}
	}
	if got := moved(p); len(got) != 1 {
		t.Errorf("%d moves onto a 4 GiB node for 3 GiB pods, want 1 (requests must fit)", len(got))
	}
	// Tolerating the taint opens gpu-0.
	for _, pod := range in.Snapshot.Pods {
		in.Pods[pod.Key()] = PodInfo{Tolerations: []Toleration{{Key: "gpu", Operator: "Exists"}}}
	}
	p = Make(in, Options{MaxMoves: 10, Tolerance: 0.01})
	if n := len(p.Moves); n < 2 || p.Moves[0].To != "gpu-0" {
		t.Errorf("tolerating pods: moves %+v, want the first onto gpu-0", p.Moves)
	}
	if !slicesContains(p.Assumptions, "not modelled") || slicesContains(p.Assumptions, "were not read") {
		t.Errorf("assumptions %q", p.Assumptions)
	}
}

func TestMaxMovesAndValidate(t *testing.T) {
	nodes := []cluster.Node{node("old-0", 16*gi), node("new-0", 16*gi)}
	in := input(nodes, deployment("web", "a", gi, "old-0", "old-0"), deployment("web", "b", gi, "old-0", "old-0"), deployment("web", "c", gi, "old-0", "old-0"))
	if p := Make(in, Options{MaxMoves: 2, Tolerance: 0.05}); len(p.Moves) != 2 {
		t.Errorf("--max-moves 2: %d moves", len(p.Moves))
	}
	if err := (Options{MaxMoves: -1, Tolerance: 2}).Validate(); err == nil || !strings.Contains(err.Error(), "MaxMoves") || !strings.Contains(err.Error(), "Tolerance") {
		t.Errorf("Validate: %v, want both fields named", err)
	}
}

func slicesContains(ss []string, part string) bool {
	for _, s := range ss {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// BenchmarkMake1000Nodes plans on 1,000 nodes with 30 pods each, 100 of
// them empty (just joined).
func BenchmarkMake1000Nodes(b *testing.B) {
	var nodes []cluster.Node
	var full []string
	for i := range 1000 {
		nodes = append(nodes, node(fmt.Sprintf("n-%d", i), 64*gi))
		if i >= 100 {
			full = append(full, nodes[i].Name)
		}
	}
	var pods [][]cluster.Pod
	for w := range 300 {
		var on []string
		for r := range 100 {
			on = append(on, full[(w*7+r*13)%len(full)])
		}
		pods = append(pods, deployment("ns", fmt.Sprintf("w%d", w), gi/2, on...))
	}
	in := input(nodes, pods...)
	b.ResetTimer()
	for b.Loop() {
		if p := Make(in, DefaultOptions()); len(p.Moves) != 20 {
			b.Fatalf("%d moves", len(p.Moves))
		}
	}
}

func TestRequiredNodeAffinity(t *testing.T) {
	labels := map[string]string{"zone": "a", "disk": "ssd", "cores": "16"}
	req := func(key, op string, values ...string) Requirement {
		return Requirement{Key: key, Operator: op, Values: values}
	}
	term := func(rs ...Requirement) NodeSelectorTerm { return NodeSelectorTerm{MatchExpressions: rs} }
	for _, c := range []struct {
		name  string
		terms []NodeSelectorTerm
		want  bool
	}{
		{"none: any node", nil, true},
		{"In", []NodeSelectorTerm{term(req("zone", "In", "a", "b"))}, true},
		{"In, other value", []NodeSelectorTerm{term(req("zone", "In", "b"))}, false},
		{"In, label missing", []NodeSelectorTerm{term(req("gpu", "In", "true"))}, false},
		{"NotIn", []NodeSelectorTerm{term(req("zone", "NotIn", "b"))}, true},
		{"NotIn, label missing", []NodeSelectorTerm{term(req("gpu", "NotIn", "true"))}, true},
		{"NotIn, the node's value", []NodeSelectorTerm{term(req("zone", "NotIn", "a"))}, false},
		{"Exists", []NodeSelectorTerm{term(req("disk", "Exists"))}, true},
		{"DoesNotExist", []NodeSelectorTerm{term(req("disk", "DoesNotExist"))}, false},
		{"Gt", []NodeSelectorTerm{term(req("cores", "Gt", "8"))}, true},
		{"Lt", []NodeSelectorTerm{term(req("cores", "Lt", "8"))}, false},
		{"Gt, not a number", []NodeSelectorTerm{term(req("zone", "Gt", "1"))}, false},
		{"a term's requirements all hold", []NodeSelectorTerm{term(req("zone", "In", "a"), req("disk", "In", "hdd"))}, false},
		{"any term holds", []NodeSelectorTerm{term(req("zone", "In", "b")), term(req("disk", "In", "ssd"))}, true},
		{"an empty term holds for no node", []NodeSelectorTerm{{}}, false},
		{"matchFields on the node's name", []NodeSelectorTerm{{MatchFields: []Requirement{req("metadata.name", "In", "n-1")}}}, true},
		{"matchFields, another name", []NodeSelectorTerm{{MatchFields: []Requirement{req("metadata.name", "In", "n-2")}}}, false},
		{"matchFields on another field", []NodeSelectorTerm{{MatchFields: []Requirement{req("spec.unschedulable", "In", "false")}}}, false},
		{"unknown operator", []NodeSelectorTerm{term(req("zone", "Near", "a"))}, false},
	} {
		if got := affinityAllows(c.terms, "n-1", labels); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPlacementConstraints: pods on a full node with three empty ones,
// each of which only some pods may use: the plan sends each pod only where
// the scheduler's filters would let it.
func TestPlacementConstraints(t *testing.T) {
	nodes := []cluster.Node{node("full", 16*gi), node("ssd", 16*gi), node("tainted", 16*gi), node("zone-b", 16*gi)}
	api := deployment("web", "api", 2*gi, "full", "full", "full")
	cache := deployment("web", "cache", 2*gi, "full", "full", "full")
	batch := deployment("jobs", "batch", 2*gi, "full")
	in := input(nodes, api, cache, batch)
	in.Nodes = map[string]NodeInfo{
		"full":    {Labels: map[string]string{"zone": "a"}},
		"ssd":     {Labels: map[string]string{"zone": "a", "disk": "ssd"}},
		"tainted": {Labels: map[string]string{"zone": "a"}, Taints: []Taint{{Key: "dedicated", Value: "batch", Effect: "NoExecute"}, {Key: "spot", Effect: "PreferNoSchedule"}}},
		"zone-b":  {Labels: map[string]string{"zone": "b"}},
	}
	in.Pods = map[string]PodInfo{}
	for _, p := range api { // zone a only: ssd, or full where they are
		in.Pods[p.Key()] = PodInfo{RequiredAffinity: []NodeSelectorTerm{{MatchExpressions: []Requirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}}},
			Tolerations: []Toleration{{Key: "dedicated", Operator: "Equal", Value: "web", Effect: "NoExecute"}}} // the wrong value
	}
	for _, p := range cache { // disk=ssd only, by nodeSelector
		in.Pods[p.Key()] = PodInfo{NodeSelector: map[string]string{"disk": "ssd"}}
	}
	for _, p := range batch { // tolerates the dedicated taint; NotIn zone b
		in.Pods[p.Key()] = PodInfo{RequiredAffinity: []NodeSelectorTerm{{MatchExpressions: []Requirement{{Key: "zone", Operator: "NotIn", Values: []string{"b"}}}}},
			Tolerations: []Toleration{{Key: "dedicated", Operator: "Equal", Value: "batch"}}}
	}
	p := Make(in, Options{MaxMoves: 20, Tolerance: 0.01})
	allowed := map[string][]string{"api": {"ssd"}, "cache": {"ssd"}, "batch": {"ssd", "tainted"}}
	seen := map[string]bool{}
	for _, m := range p.Moves {
		name := strings.TrimSuffix(m.Workload.Name, "-7d9f8c6b5")
		if !slicesContains(allowed[name], m.To) {
			t.Errorf("%s moved to %s, allowed only %v", m.Pod, m.To, allowed[name])
		}
		seen[m.To] = true
	}
	if !seen["tainted"] || !seen["ssd"] || seen["zone-b"] {
		t.Errorf("moves %+v: want the batch pod on the tainted node it tolerates, others on ssd, none in zone b", p.Moves)
	}
	// Without the placement information the empty nodes all look alike.
	in.Nodes, in.Pods = nil, nil
	p = Make(in, Options{MaxMoves: 20, Tolerance: 0.01})
	if seen := moved(p); len(seen) == 0 || !slicesContains(p.Assumptions, "were not read") {
		t.Errorf("no placement information: moves %v, assumptions %q", seen, p.Assumptions)
	}
}

package detect

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type fakeSource struct {
	nodes     []*corev1.Node
	leases    map[string]time.Time
	pods      []*corev1.Pod
	workloads []cluster.Workload
	owners    cluster.Owners
}

func (f *fakeSource) Nodes() []*corev1.Node { return f.nodes }
func (f *fakeSource) Node(name string) (*corev1.Node, bool) {
	for _, n := range f.nodes {
		if n.Name == name {
			return n, true
		}
	}
	return nil, false
}
func (f *fakeSource) Lease(n string) (*coordinationv1.Lease, bool) {
	t, ok := f.leases[n]
	if !ok {
		return nil, false
	}
	mt := metav1.NewMicroTime(t)
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &mt}}, true
}
func (f *fakeSource) Pods() []*cluster.Pod          { return slim(f.pods) }
func (f *fakeSource) Workloads() []cluster.Workload { return f.workloads }
func (f *fakeSource) Owners() cluster.Owners        { return f.owners }

func node(name string, ready corev1.ConditionStatus, extra ...corev1.NodeCondition) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = append([]corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "NodeStatusUnknown",
		Message: "Kubelet stopped posting node status.", LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}}, extra...)
	return n
}

func TestNodeRules(t *testing.T) {
	cases := []struct {
		name   string
		node   *corev1.Node
		renew  time.Duration // lease age at t0
		rules  []string
		reason string
	}{
		{"ready and renewing", node("a", corev1.ConditionTrue), 9 * time.Second, nil, ""},
		{"Unknown", node("a", corev1.ConditionUnknown), 60 * time.Second, []string{NodeNotReady}, "NodeStatusUnknown"},
		{"False", node("a", corev1.ConditionFalse), 5 * time.Second, []string{NodeNotReady}, "NodeStatusUnknown"},
		{"lease 29s old: not yet", node("a", corev1.ConditionTrue), 29 * time.Second, nil, ""},
		{"lease 30s old: early warning", node("a", corev1.ConditionTrue), 30 * time.Second, []string{NodeLeaseStale}, "LeaseNotRenewed"},
		{"memory pressure", node("a", corev1.ConditionTrue, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue}), time.Second, []string{NodePressure}, "MemoryPressure"},
		{"no Ready condition yet", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, time.Hour, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{nodes: []*corev1.Node{tc.node}, leases: map[string]time.Time{"a": t0.Add(-tc.renew)}}
			got := NewNodes(DefaultRules(), src).Evaluate(t0)
			if len(got) != len(tc.rules) {
				t.Fatalf("findings %+v, want rules %v", got, tc.rules)
			}
			for i, f := range got {
				if f.Rule != tc.rules[i] || f.Reason != tc.reason || f.Node != "a" {
					t.Errorf("finding %+v, want rule %s reason %s", f, tc.rules[i], tc.reason)
				}
			}
			if len(got) > 0 && got[0].Rule != NodePressure && got[0].Key != DownKey("a") {
				t.Errorf("key %s: the early warning and NotReady must share %s", got[0].Key, DownKey("a"))
			}
		})
	}
}

func TestFlappingAndDeletion(t *testing.T) {
	src := &fakeSource{leases: map[string]time.Time{}}
	d := NewNodes(DefaultRules(), src)
	statuses := []corev1.ConditionStatus{"True", "Unknown", "True", "Unknown"}
	var last []Finding
	for i, s := range statuses {
		now := t0.Add(time.Duration(i) * time.Minute)
		src.leases["a"] = now
		src.nodes = []*corev1.Node{node("a", s)}
		last = d.Evaluate(now)
	}
	if !hasRule(last, NodeFlapping) {
		t.Errorf("3 transitions in 3 minutes: %+v, want NodeFlapping", last)
	}
	// 20 minutes later the transitions have aged out of the window.
	later := t0.Add(20 * time.Minute)
	src.leases["a"] = later
	src.nodes = []*corev1.Node{node("a", "True")}
	if got := d.Evaluate(later); hasRule(got, NodeFlapping) {
		t.Errorf("still flapping after the window: %+v", got)
	}
	src.nodes = nil
	got := d.Evaluate(later.Add(time.Second))
	if len(got) != 1 || got[0].Rule != NodeDeleted || !got[0].Instant {
		t.Errorf("deleted node: %+v", got)
	}
	if got := d.Evaluate(later.Add(2 * time.Second)); len(got) != 0 {
		t.Errorf("a deletion is reported once: %+v", got)
	}
}

// TestEvaluateNode: evaluating one node (on its Lease renewal) gives that
// node's share of a full evaluation, tracks the same transitions, and
// reports its deletion once.
func TestEvaluateNode(t *testing.T) {
	src := &fakeSource{leases: map[string]time.Time{"a": t0, "b": t0.Add(-40 * time.Second)}}
	src.nodes = []*corev1.Node{node("a", "Unknown"), node("b", "True")}
	full := NewNodes(DefaultRules(), src).Evaluate(t0)
	one := NewNodes(DefaultRules(), src)
	got := append(one.EvaluateNode("a", t0), one.EvaluateNode("b", t0)...)
	if len(full) != 2 || len(got) != 2 || got[0] != full[0] || got[1] != full[1] {
		t.Fatalf("per node %+v, full %+v", got, full)
	}
	if got[0].Rule != NodeNotReady || got[1].Rule != NodeLeaseStale {
		t.Errorf("rules %s, %s", got[0].Rule, got[1].Rule)
	}
	for _, f := range got {
		if !strings.HasPrefix(f.Key, NodeScope(f.Node)) {
			t.Errorf("key %s outside its node's scope %s", f.Key, NodeScope(f.Node))
		}
	}
	src.nodes = src.nodes[1:]
	if del := one.EvaluateNode("a", t0.Add(time.Second)); len(del) != 1 || del[0].Rule != NodeDeleted {
		t.Errorf("deleted node: %+v", del)
	}
	if del := one.EvaluateNode("a", t0.Add(2*time.Second)); len(del) != 0 {
		t.Errorf("a deletion is reported once: %+v", del)
	}
	if none := one.EvaluateNode("never-seen", t0); len(none) != 0 {
		t.Errorf("unknown node: %+v", none)
	}
}

func hasRule(fs []Finding, rule string) bool {
	for _, f := range fs {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

func pod(name, rsName string, mutate func(*corev1.Pod)) *corev1.Pod {
	yes := true
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "emails",
		Labels:          map[string]string{"pod-template-hash": "5d8f"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rsName, Controller: &yes}}}}
	p.Spec.NodeName = "node-1"
	p.Status.Phase = corev1.PodRunning
	mutate(p)
	return p
}

func crashLoop(p *corev1.Pod) {
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 127, Message: "not found"}}}}
}

func TestWorkloadRules(t *testing.T) {
	oom := func(ago time.Duration) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", RestartCount: 1,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(t0.Add(-ago))}}}}
		}
	}
	unschedulable := func(ago time.Duration) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.NodeName, p.Status.Phase = "", corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes", LastTransitionTime: metav1.NewTime(t0.Add(-ago))}}
		}
	}
	cases := []struct {
		name    string
		pods    []*corev1.Pod
		want    int
		reason  string
		podsIn  int
		exitIn0 int32
	}{
		{"crash loop grouped per Deployment", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", crashLoop), pod("digest-5d8f-b", "digest-5d8f", crashLoop)}, 1, "CrashLoopBackOff", 2, 127},
		{"recent OOM kill", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", oom(time.Minute))}, 1, "OOMKilled", 1, 137},
		{"old OOM kill", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", oom(time.Hour))}, 0, "", 0, 0},
		{"unschedulable for 3m", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", unschedulable(3*time.Minute))}, 1, "Unschedulable", 1, 0},
		{"unschedulable for 30s", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", unschedulable(30*time.Second))}, 0, "", 0, 0},
		{"evicted", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
		})}, 1, "Evicted", 1, 0},
		{"healthy", []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", func(*corev1.Pod) {})}, 0, "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWorkloads(DefaultRules(), &fakeSource{pods: tc.pods, owners: cluster.Owners{}})
			got, reports := w.Evaluate(t0)
			if len(got) != tc.want {
				t.Fatalf("findings %+v, want %d", got, tc.want)
			}
			if tc.want == 0 {
				return
			}
			f := got[0]
			r := reports[f.Key]
			if f.Rule != WorkloadFailing || f.Workload != "emails/Deployment/digest" || r.Reason != tc.reason || len(r.Pods) != tc.podsIn || r.Pods[0].ExitCode != tc.exitIn0 {
				t.Errorf("finding %+v report %+v; want Deployment emails/digest, %s, %d pods, exit %d", f, r, tc.reason, tc.podsIn, tc.exitIn0)
			}
		})
	}
}

// A crash loop is Running between crashes: the incident holds through the
// quiet period instead of resolving and re-firing with every restart.
func TestWorkloadQuietPeriod(t *testing.T) {
	src := &fakeSource{owners: cluster.Owners{}, pods: []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", crashLoop)}}
	w := NewWorkloads(DefaultRules(), src)
	if got, _ := w.Evaluate(t0); len(got) != 1 {
		t.Fatalf("crash loop not found: %+v", got)
	}
	src.pods = []*corev1.Pod{pod("digest-5d8f-a", "digest-5d8f", func(*corev1.Pod) {})}
	if got, _ := w.Evaluate(t0.Add(time.Minute)); len(got) != 1 || !got[0].Since.Equal(t0) {
		t.Errorf("between crashes: %+v, want the same finding since %v", got, t0)
	}
	if got, _ := w.Evaluate(t0.Add(6 * time.Minute)); len(got) != 0 {
		t.Errorf("after the quiet period: %+v, want none", got)
	}
}

func TestWorkloadUnavailable(t *testing.T) {
	src := &fakeSource{owners: cluster.Owners{}, workloads: []cluster.Workload{
		{Namespace: "web", Kind: "Deployment", Name: "frontend", Desired: 4, Available: 0},
		{Namespace: "emails", Kind: "ReplicationController", Name: "unanswered-emails", Desired: 2, Available: 1},
		{Namespace: "ok", Kind: "StatefulSet", Name: "db", Desired: 3, Available: 3},
	}}
	w := NewWorkloads(DefaultRules(), src)
	if got, _ := w.Evaluate(t0); len(got) != 0 {
		t.Errorf("alerted before the threshold: %+v", got)
	}
	got, _ := w.Evaluate(t0.Add(3 * time.Minute))
	if len(got) != 2 {
		t.Fatalf("findings %+v, want 2", got)
	}
	sev := map[string]string{}
	for _, f := range got {
		sev[f.Workload] = f.Severity
	}
	if sev["web/Deployment/frontend"] != Critical || sev["emails/ReplicationController/unanswered-emails"] != Warning {
		t.Errorf("severities %v: none available is critical, some is a warning", sev)
	}
}

func TestRulesValidate(t *testing.T) {
	r := DefaultRules()
	if err := r.Validate("rules"); err != nil {
		t.Fatal(err)
	}
	r.LeaseMissedRenewals, r.FlapWindow = 0, -time.Second
	err := r.Validate("rules")
	if err == nil || !strings.Contains(err.Error(), "rules.leaseMissedRenewals") || !strings.Contains(err.Error(), "rules.flapWindow") {
		t.Errorf("error %v must name both fields", err)
	}
}

// slim converts test pods as the informer cache does.
func slim(pods []*corev1.Pod) []*cluster.Pod {
	out := make([]*cluster.Pod, len(pods))
	for i, p := range pods {
		s := cluster.PodFrom(p)
		out[i] = &s
	}
	return out
}

package detect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

type state struct {
	nodes  []cluster.Node
	pods   []*cluster.Pod
	events map[string][]NodeEvent
}

func (s state) Nodes() []cluster.Node  { return s.nodes }
func (s state) Pods() []*cluster.Pod   { return s.pods }
func (s state) Owners() cluster.Owners { return cluster.Owners{} }
func (s state) NodeEvents(node string, since time.Time) []NodeEvent {
	var out []NodeEvent
	for _, e := range s.events[node] {
		if !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out
}

// pageFaults is a node's major-page-fault counter, as cAdvisor names it
// for the root cgroup.
func pageFaults(node string) labels.Labels {
	return labels.FromStrings("__name__", "container_memory_failures_total", "failure_type", "pgmajfault", "scope", "hierarchy", "id", "/", "node", node)
}

func podOn(ns, name, node string, limit *int64) *cluster.Pod {
	return &cluster.Pod{Namespace: ns, Name: name, NodeName: node, Owner: cluster.Owner{Kind: "ReplicationController", Name: strings.TrimSuffix(name, "-1")},
		Containers: []cluster.Container{{Name: "app", Limits: cluster.Resources{Memory: limit}}}}
}

// TestHistoryRules: 30 minutes of 30 s samples. ue-1 leaks 2 GiB/h without
// a limit on n1 (6 GiB free: exhaustion in ~3 h, beyond the 2 h default);
// oom-1 leaks 1 GiB/h with 1 GiB limit, 600 MiB used (OOM in ~25 min);
// steady-1 is flat; n2 thrashes in the last 3 minutes.
func TestHistoryRules(t *testing.T) {
	ctx := context.Background()
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	mem := func(ns, pod, node string) labels.Labels {
		return labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", ns, "pod", pod, "container", "app", "node", node)
	}
	var batch []collect.Sample
	disk := labels.FromStrings("__name__", "container_fs_reads_bytes_total", "id", "/", "device", "/dev/vda", "node", "n2")
	var c1, c2, d2 float64
	steps := 60
	for i := range steps {
		ts := t0.Add(time.Duration(i) * 30 * time.Second).UnixMilli()
		c1 += 30
		if i >= steps-6 {
			c2 += 30 * 500
			d2 += 30 * 80 << 20 // 80 MiB/s
		} else {
			c2 += 30
			d2 += 30 * 1 << 20
		}
		h := float64(i) / 120 // hours
		batch = append(batch,
			collect.Sample{Labels: mem("emails", "ue-1", "n1"), T: ts, V: float64(1<<30) + h*float64(2<<30)},
			collect.Sample{Labels: mem("batch", "oom-1", "n2"), T: ts, V: float64(100<<20) + h*float64(1<<30)},
			collect.Sample{Labels: mem("web", "steady-1", "n1"), T: ts, V: float64(300 << 20)},
			collect.Sample{Labels: pageFaults("n1"), T: ts, V: c1},
			collect.Sample{Labels: pageFaults("n2"), T: ts, V: c2},
			collect.Sample{Labels: disk, T: ts, V: d2},
		)
	}
	if _, err := db.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	lim := int64(1 << 30)
	st := state{
		nodes: []cluster.Node{{Name: "n1", AllocatableMemory: 8 << 30}, {Name: "n2", AllocatableMemory: 8 << 30}},
		pods:  []*cluster.Pod{podOn("emails", "ue-1", "n1", nil), podOn("batch", "oom-1", "n2", &lim), podOn("web", "steady-1", "n1", nil)},
	}
	rules := DefaultHistoryRules()
	rules.LeakWindow = 30 * time.Minute
	now := t0.Add(time.Duration(steps-1) * 30 * time.Second)
	got, err := NewHistory(rules, db, st).Evaluate(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"history/node/n2/thrashing":                                   NodeThrashing,
		"history/workload/batch/ReplicationController/oom/exhaustion": MemoryExhaustion,
		"history/workload/batch/ReplicationController/oom/leak":       ContainerLeaking,
		"history/workload/emails/ReplicationController/ue/leak":       ContainerLeaking,
	}
	if len(got) != len(want) {
		t.Errorf("findings:\n%s", dump(got))
	}
	for _, f := range got {
		if want[f.Key] != f.Rule {
			t.Errorf("unexpected %s %s: %s", f.Rule, f.Key, f.Message)
		}
		switch f.Rule {
		case MemoryExhaustion:
			// 25 minutes left: within a quarter of the 2 h horizon, critical.
			if !strings.Contains(f.Message, "OOM-killed in about 25 min") || f.Severity != Critical {
				t.Errorf("exhaustion: %s %s", f.Severity, f.Message)
			}
		case NodeThrashing:
			for _, want := range []string{"major page faults ×", "disk reads 80 MiB/s (×80)", "working set 603 MiB of 8.0 GiB allocatable"} {
				if !strings.Contains(f.Message, want) {
					t.Errorf("thrashing message %q lacks %q", f.Message, want)
				}
			}
		case ContainerLeaking:
			if strings.HasPrefix(f.Workload, "emails/") && !strings.Contains(f.Message, "2.0 GiB/h") {
				t.Errorf("leak rate: %s", f.Message)
			}
		}
	}
	// Within 4 h, the unbounded leak exhausts n1 too.
	rules.ExhaustionWithin = 4 * time.Hour
	got, _ = NewHistory(rules, db, st).Evaluate(ctx, now)
	found := false
	for _, f := range got {
		if f.Key == "history/workload/emails/ReplicationController/ue/exhaustion" {
			found = strings.Contains(f.Message, "exhaust node n1's memory") && strings.Contains(f.Message, "no memory limit")
		}
	}
	if !found {
		t.Errorf("no node exhaustion for the unbounded leak:\n%s", dump(got))
	}
}

// TestOutOfMemoryNodes: MemoryPressure with a kernel OOM kill in the last
// 5 minutes makes a node out of memory even without a page-fault spike;
// MemoryPressure alone, or an old SystemOOM, does not; a thrashing node's
// message gives both when present.
func TestOutOfMemoryNodes(t *testing.T) {
	ctx := context.Background()
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var batch []collect.Sample
	var faults float64
	for i := range 60 {
		ts := t0.Add(time.Duration(i) * 30 * time.Second).UnixMilli()
		if i >= 54 {
			faults += 30 * 500
		} else {
			faults += 30
		}
		batch = append(batch, collect.Sample{Labels: pageFaults("faulting"), T: ts, V: faults})
	}
	if _, err := db.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(59 * 30 * time.Second)
	pressure := []cluster.Condition{{Type: "MemoryPressure", Status: "True", Since: now.Add(-3 * time.Minute)}}
	oom := func(ago time.Duration) NodeEvent {
		return NodeEvent{Time: now.Add(-ago), Reason: "SystemOOM", Message: "System OOM encountered, victim process: java, pid: 4242"}
	}
	st := state{
		nodes: []cluster.Node{
			{Name: "oom", Conditions: pressure}, {Name: "pressure-only", Conditions: pressure},
			{Name: "old-oom", Conditions: pressure}, {Name: "faulting", Conditions: pressure}, {Name: "fine"},
		},
		events: map[string][]NodeEvent{
			"oom": {oom(4 * time.Minute), oom(time.Minute)}, "old-oom": {oom(20 * time.Minute)}, "faulting": {oom(2 * time.Minute)},
			"fine": {oom(time.Minute)}, // a kernel OOM kill without MemoryPressure: the kubelet says the node has room
		},
	}
	got, err := NewHistory(DefaultHistoryRules(), db, st).Evaluate(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string]Finding{}
	for _, f := range got {
		if f.Rule == NodeThrashing {
			byNode[f.Node] = f
		}
	}
	if len(byNode) != 2 {
		t.Errorf("want oom and faulting, got:\n%s", dump(got))
	}
	if f := byNode["oom"]; f.Reason != "SystemOOM" || f.Message != "oom is out of memory; MemoryPressure since 10:26:30; "+
		"2 SystemOOM kill(s) in the last 5 min, the last: System OOM encountered, victim process: java, pid: 4242" {
		t.Errorf("oom: %s %q", f.Reason, f.Message)
	}
	if f := byNode["faulting"]; f.Reason != "MajorPageFaults" || !strings.Contains(f.Message, "faulting is thrashing: major page faults") ||
		!strings.Contains(f.Message, "; MemoryPressure since 10:26:30; 1 SystemOOM kill(s)") {
		t.Errorf("faulting: %s %q", f.Reason, f.Message)
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Key + " " + f.Rule + " " + f.Severity + ": " + f.Message + "\n")
	}
	return b.String()
}

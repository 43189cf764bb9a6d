package cli

import (
	"bytes"
	"testing"

	"github.com/nodewatch/nodewatch/internal/analyze/culprit"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
)

func i64p(v int64) *int64 { return &v }

func TestSuspectsFromIncidents(t *testing.T) {
	pod := func(ns, kind, name string, limit *int64) health.PodReport {
		return health.PodReport{Namespace: ns, Name: name + "-x", Owner: cluster.Owner{Kind: kind, Name: name}, MemoryLimit: limit}
	}
	incs := []incident.Incident{
		{Rule: "NodeNotReady", Node: "n1", Pods: []health.PodReport{pod("emails", "ReplicationController", "unanswered-emails", nil), pod("kube-system", "DaemonSet", "node-exporter", i64p(1))}},
		{Rule: "NodeNotReady", Node: "n2", Pods: []health.PodReport{pod("emails", "ReplicationController", "unanswered-emails", nil), pod("kube-system", "DaemonSet", "node-exporter", i64p(1))}},
		{Rule: "NodeLeaseStale", Node: "n3"}, // an early warning that never became a failure
		{Rule: "WorkloadFailing", Workload: "web/Deployment/frontend"},
	}
	f := culprit.Failures(incs)
	if len(f) != 2 {
		t.Fatalf("failures %+v, want the two NodeNotReady incidents", f)
	}
	snap := &cluster.Snapshot{Owners: cluster.Owners{}}
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		snap.Nodes = append(snap.Nodes, cluster.Node{Name: n})
		snap.Pods = append(snap.Pods, cluster.Pod{Namespace: "kube-system", Name: "ne-" + n, NodeName: n, Owner: cluster.Owner{Kind: "DaemonSet", Name: "node-exporter"}, Phase: "Running"})
	}
	snap.Pods = append(snap.Pods, cluster.Pod{Namespace: "emails", Name: "ue-1", NodeName: "n3", Owner: cluster.Owner{Kind: "ReplicationController", Name: "unanswered-emails"}, Phase: "Running"})
	ranked := culprit.Rank(f, presence(snap), nil)
	var out bytes.Buffer
	if err := suspectsText(&out, ranked); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "suspects.text", out.Bytes())
	if ranked[0].Name != "unanswered-emails" || ranked[1].Score != 0 {
		t.Errorf("ranking %+v", ranked)
	}
}

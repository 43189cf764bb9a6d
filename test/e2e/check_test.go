package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestCheckNodeFailure is the story's cron job, done right: a node stops
// heartbeating, the real node lifecycle controller marks it Unknown, and
// `nodewatch check` names it with exactly the pods that were on it — live,
// from a kubectl dump, and in one Slack message — then passes after recovery.
func TestCheckNodeFailure(t *testing.T) {
	c := simcluster.StartForTest(t, simcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	nodes, err := c.AddNodes(ctx, "node", 3, simcluster.NodeSize{})
	if err != nil {
		t.Fatal(err)
	}
	web := simcluster.Workload{Namespace: "web", Name: "frontend", Replicas: 6, MemoryRequest: "256Mi", MemoryLimit: "512Mi"}
	emails := simcluster.Workload{Namespace: "emails", Name: "unanswered-emails", Replicas: 3}
	if err := c.CreateDeployment(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateReplicationController(ctx, emails); err != nil {
		t.Fatal(err)
	}
	for _, w := range []simcluster.Workload{web, emails} {
		if err := c.WaitPodsRunning(ctx, w, int(w.Replicas)); err != nil {
			t.Fatal(err)
		}
	}
	kube := []string{"--kubeconfig", c.Kubeconfig}

	if r := nodewatch(t, ctx, nil, nil, append([]string{"check"}, kube...)...); r.code != 0 {
		t.Fatalf("healthy cluster: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// Fail the node carrying the most pods, as the scheduler spread them.
	victim, want := "", []string(nil)
	for _, n := range nodes {
		pods, err := c.PodsOnNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) > len(want) {
			victim, want = n, pods
		}
	}
	slices.Sort(want)
	t.Logf("failing %s with pods %v", victim, want)
	if err := c.FailNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodeReady(ctx, victim, "Unknown"); err != nil {
		t.Fatal(err)
	}

	slackRx := slacktest.New()
	defer slackRx.Close()
	r := nodewatch(t, ctx, []string{"NODEWATCH_SLACK_WEBHOOK=" + slackRx.URL}, nil,
		append([]string{"check", "-o", "json", "--notify"}, kube...)...)
	if r.code != 1 {
		t.Fatalf("failed node: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	live := assertReport(t, r.stdout, victim, want)

	msgs := slackRx.Messages()
	if len(msgs) != 1 {
		t.Fatalf("Slack receiver got %d messages, want 1", len(msgs))
	}
	for _, s := range append([]string{victim}, want...) {
		name := s[strings.Index(s, "/")+1:]
		if !strings.Contains(string(msgs[0].Raw), name) {
			t.Errorf("Slack message does not name %s:\n%s", name, msgs[0].Raw)
		}
	}

	// The same check over what kubectl dumps.
	dump, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.Kubeconfig, "get", "nodes,pods", "-A", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl get nodes,pods: %v", err)
	}
	file := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(file, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	r = nodewatch(t, ctx, nil, nil, "check", "-f", file, "-o", "json")
	if r.code != 1 {
		t.Fatalf("check -f dump: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	fromDump := assertReport(t, r.stdout, victim, want)
	if !slices.EqualFunc(live.Nodes[0].Pods, fromDump.Nodes[0].Pods, func(a, b health.PodReport) bool {
		return a.Name == b.Name && a.Owner == b.Owner && eqPtr(a.MemoryLimit, b.MemoryLimit) && eqPtr(a.MemoryRequest, b.MemoryRequest) && a.QOS == b.QOS
	}) {
		t.Errorf("dump and live reports differ:\nlive %+v\ndump %+v", live.Nodes[0].Pods, fromDump.Nodes[0].Pods)
	}

	if err := c.RecoverNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodeReady(ctx, victim, "True"); err != nil {
		t.Fatal(err)
	}
	if r := nodewatch(t, ctx, []string{"NODEWATCH_SLACK_WEBHOOK=" + slackRx.URL}, nil, append([]string{"check", "--notify"}, kube...)...); r.code != 0 {
		t.Fatalf("after recovery: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(slackRx.Messages()); n != 1 {
		t.Errorf("a healthy check sent to Slack: %d messages, want still 1", n)
	}
}

// assertReport checks a JSON report names exactly the victim, with exactly
// the wanted pods, each under its real workload.
func assertReport(t *testing.T, out, victim string, want []string) *health.Report {
	t.Helper()
	var rep health.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if rep.Healthy || len(rep.Nodes) != 1 || rep.Nodes[0].Name != victim {
		t.Fatalf("report names %+v, want exactly node %s", rep.Nodes, victim)
	}
	n := rep.Nodes[0]
	if n.Ready != "Unknown" || n.Reason != "NodeStatusUnknown" || n.Since == nil {
		t.Errorf("node %s: ready=%s reason=%s since=%v, want Unknown/NodeStatusUnknown with a time", victim, n.Ready, n.Reason, n.Since)
	}
	var got []string
	for _, p := range n.Pods {
		got = append(got, p.Namespace+"/"+p.Name)
		switch p.Namespace {
		case "web":
			if p.Owner.Kind != "Deployment" || p.Owner.Name != "frontend" || p.MemoryLimit == nil || *p.MemoryLimit != 512<<20 || p.QOS != "Burstable" {
				t.Errorf("pod %s: owner %+v limit %v qos %s, want Deployment/frontend, 512Mi, Burstable", p.Name, p.Owner, p.MemoryLimit, p.QOS)
			}
		case "emails":
			if p.Owner.Kind != "ReplicationController" || p.Owner.Name != "unanswered-emails" || p.MemoryLimit != nil || p.QOS != "BestEffort" {
				t.Errorf("pod %s: owner %+v limit %v qos %s, want ReplicationController/unanswered-emails, no limit, BestEffort", p.Name, p.Owner, p.MemoryLimit, p.QOS)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pods on %s: got %v, want %v", victim, got, want)
	}
	return &rep
}

func eqPtr(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

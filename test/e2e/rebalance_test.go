package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// rebalancePlan is the part of rebalance -o json this test reads.
type rebalancePlan struct {
	DryRun bool `json:"dryRun"`
	Moves  []struct {
		Wave      int    `json:"wave"`
		Namespace string `json:"namespace"`
		Pod       string `json:"pod"`
		Workload  struct {
			Kind, Name string
		} `json:"workload"`
		From        string `json:"from"`
		To          string `json:"expectedTarget"`
		UsageSource string `json:"usageSource"`
	} `json:"moves"`
	Held []struct {
		Namespace string `json:"namespace"`
		Workload  struct {
			Kind, Name string
		} `json:"workload"`
		Reason string `json:"reason"`
	} `json:"held"`
	Applied []struct {
		Namespace, Pod, Result, Message string
	} `json:"applied"`
}

// TestRebalance: four Deployments on two nodes, scraped every 2 s; two
// empty nodes join. The dry run proposes moves onto them and none for the
// Deployment whose PDB allows no disruption; --apply --yes evicts, the
// ReplicaSets re-create the pods and the scheduler puts them on the new
// nodes; the PDB-protected pods are the same pods as before.
func TestRebalance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	c, _ := usageCluster(t, ctx, simcluster.Options{}, 2, simcluster.NodeSize{})
	mem := func(m string) map[string]string { return map[string]string{simcluster.AnnotationMemory: m} }
	deploy(t, ctx, c,
		simcluster.Workload{Namespace: "web", Name: "api", Replicas: 4, MemoryRequest: "512Mi", Annotations: mem("2Gi")},
		simcluster.Workload{Namespace: "web", Name: "cache", Replicas: 2, MemoryRequest: "1Gi", Annotations: mem("1Gi")},
		simcluster.Workload{Namespace: "batch", Name: "worker", Replicas: 2, MemoryRequest: "256Mi", Annotations: mem("1536Mi")},
		simcluster.Workload{Namespace: "shop", Name: "db", Replicas: 2, MemoryRequest: "512Mi", Annotations: mem("1Gi")},
	)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets("shop").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dbPods := podsOf(t, ctx, c, "shop", "app=db")
	d := startDaemon(t, c.Kubeconfig, t.TempDir(), nil, "--scrape-interval", "2s", "--scrape-timeout", "2s", "--kubelet-insecure-tls")
	server := "http://" + d.addr
	if _, err := c.AddNodes(ctx, "new", 2, simcluster.NodeSize{}); err != nil {
		t.Fatal(err)
	}
	base := []string{"rebalance", "--nodewatch-url", server, "--kubeconfig", c.Kubeconfig, "--window", "10m"}

	// The dry run, once every pod to move has history and the disruption
	// controller has counted the PDB's pods.
	var plan rebalancePlan
	var last result
	waitFor(t, ctx, 3*time.Minute, "a plan from history", func() bool {
		time.Sleep(3 * time.Second)
		got, err := c.Client.PolicyV1().PodDisruptionBudgets("shop").Get(ctx, "db", metav1.GetOptions{})
		if err != nil || got.Status.ExpectedPods != 2 {
			return false
		}
		last = nodewatch(t, ctx, nil, nil, append(base, "-o", "json")...)
		plan = rebalancePlan{}
		if last.code != 0 || json.Unmarshal([]byte(last.stdout), &plan) != nil || len(plan.Moves) == 0 {
			return false
		}
		for _, m := range plan.Moves {
			if m.UsageSource != "history" {
				return false
			}
		}
		return true
	})
	t.Logf("rebalance -o json:\n%s", last.stdout)
	onto := map[string]int{}
	waves := map[string]bool{}
	for _, m := range plan.Moves {
		onto[m.To]++
		if k := fmt.Sprint(m.Wave, m.Namespace, m.Workload.Name); waves[k] {
			t.Errorf("two pods of %s/%s in wave %d", m.Namespace, m.Workload.Name, m.Wave)
		} else {
			waves[k] = true
		}
		if !strings.HasPrefix(m.To, "new-") || !strings.HasPrefix(m.From, "node-") {
			t.Errorf("move %s/%s %s → %s, want from an old node onto a new one", m.Namespace, m.Pod, m.From, m.To)
		}
		if m.Workload.Name == "db" {
			t.Errorf("planned to evict %s, whose PDB allows no disruption", m.Pod)
		}
	}
	if onto["new-0"] == 0 || onto["new-1"] == 0 || !plan.DryRun {
		t.Errorf("moves onto %v (dry run %v), want both new nodes", onto, plan.DryRun)
	}
	heldDB := false
	for _, h := range plan.Held {
		heldDB = heldDB || (h.Namespace == "shop" && h.Workload.Name == "db" && strings.Contains(h.Reason, "PodDisruptionBudget db allows 0"))
	}
	if !heldDB {
		t.Errorf("held %+v, want shop/db held by its PDB", plan.Held)
	}
	text := nodewatch(t, ctx, nil, nil, base...)
	if text.code != 0 || !strings.Contains(text.stdout, "dry run: nothing is evicted") || !strings.Contains(text.stdout, "Expected memory usage per node") ||
		!strings.Contains(text.stdout, "PodDisruptionBudget db allows 0") {
		t.Errorf("rebalance (text): exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}
	t.Logf("rebalance:\n%s", text.stdout)
	if r := nodewatch(t, ctx, nil, nil, append(base, "--apply")...); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("--apply without --yes: exit %d\n%s", r.code, r.stderr)
	}
	if pods := podsOnNew(t, ctx, c); len(pods) != 0 {
		t.Fatalf("pods on the new nodes before --apply: %v", pods)
	}

	// --apply --yes: evictions through the Eviction API, one at a time.
	r := nodewatch(t, ctx, nil, nil, append(base, "-o", "json", "--apply", "--yes", "--wait-timeout", "90s")...)
	t.Logf("rebalance --apply --yes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	var applied rebalancePlan
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &applied) != nil {
		t.Fatalf("--apply --yes: exit %d", r.code)
	}
	evicted := 0
	for _, e := range applied.Applied {
		if e.Result == "evicted" {
			evicted++
		} else {
			t.Errorf("%s/%s: %s %s", e.Namespace, e.Pod, e.Result, e.Message)
		}
	}
	if evicted == 0 || evicted != len(applied.Moves) {
		t.Fatalf("evicted %d of %d planned moves", evicted, len(applied.Moves))
	}
	// Every workload is whole again, with the evicted pods' replacements on
	// the new nodes (the scheduler picks them: they hold no requests yet).
	for _, w := range []struct {
		ns, sel string
		n       int
	}{{"web", "app=api", 4}, {"web", "app=cache", 2}, {"batch", "app=worker", 2}} {
		if got := len(podsOf(t, ctx, c, w.ns, w.sel)); got != w.n {
			t.Errorf("%s %s: %d pods running after --apply, want %d", w.ns, w.sel, got, w.n)
		}
	}
	onNew := podsOnNew(t, ctx, c)
	t.Logf("pods on the new nodes after --apply: %v", onNew)
	newNodes := map[string]bool{}
	for _, p := range onNew {
		newNodes[strings.SplitN(p, " ", 2)[1]] = true
	}
	if len(onNew) != evicted || !newNodes["new-0"] || !newNodes["new-1"] {
		t.Errorf("%d pods on the new nodes (%v) after %d evictions, want as many, on both", len(onNew), onNew, evicted)
	}
	if after := podsOf(t, ctx, c, "shop", "app=db"); strings.Join(after, ",") != strings.Join(dbPods, ",") {
		t.Errorf("the PDB-protected db pods changed: %v → %v", dbPods, after)
	}
}

func ptrTo[T any](v T) *T { return &v }

// podsOf returns "name node" of the running, not deleting pods matching
// sel, sorted.
func podsOf(t *testing.T, ctx context.Context, c *simcluster.Cluster, ns, sel string) []string {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p.Name+" "+p.Spec.NodeName)
		}
	}
	slices.Sort(out)
	return out
}

// podsOnNew returns "namespace/name node" of the pods on new-0 and new-1.
func podsOnNew(t *testing.T, ctx context.Context, c *simcluster.Cluster) []string {
	t.Helper()
	var out []string
	for _, n := range []string{"new-0", "new-1"} {
		pods, err := c.PodsOnNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			out = append(out, p+" "+n)
		}
	}
	return out
}

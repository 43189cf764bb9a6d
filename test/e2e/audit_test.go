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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/audit"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestAuditMissingLimits: workloads without memory limits in several
// namespaces — the story's JVM job, a third-party agent, a namespace whose
// LimitRange gives new pods a default, and one whose LimitRange came after
// its pods — are reported by `nodewatch audit` as the real API server and
// its LimitRanger admission plugin leave them, live and from a kubectl dump.
func TestAuditMissingLimits(t *testing.T) {
	c := simcluster.StartForTest(t, simcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	nodes, err := c.AddNodes(ctx, "node", 2, simcluster.NodeSize{Memory: "8Gi"})
	if err != nil {
		t.Fatal(err)
	}
	const limitRange = `apiVersion: v1
kind: LimitRange
metadata: {name: memory-defaults, namespace: %s}
spec:
  limits:
  - type: Container
    default: {memory: 512Mi}
    defaultRequest: {memory: 256Mi, cpu: 100m}
`
	apply := func(manifest string) {
		t.Helper()
		if err := c.Apply(ctx, manifest); err != nil {
			t.Fatal(err)
		}
	}

	// batch: the LimitRange is there before the pods, so admission gives them its default.
	if err := c.EnsureNamespace(ctx, "batch"); err != nil {
		t.Fatal(err)
	}
	apply(strings.ReplaceAll(limitRange, "%s", "batch"))
	// web: everything declared, a LimitRange and a memory quota.
	if err := c.EnsureNamespace(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	apply(strings.ReplaceAll(limitRange, "%s", "web") + `---
apiVersion: v1
kind: ResourceQuota
metadata: {name: memory, namespace: web}
spec:
  hard: {requests.memory: 8Gi, limits.memory: 16Gi}
`)

	jvm := simcluster.Workload{Namespace: "emails", Name: "unanswered-emails", Replicas: 2}
	agent := simcluster.Workload{Namespace: "vendor-system", Name: "vendor-agent", Replicas: 1, MemoryRequest: "64Mi"}
	reports := simcluster.Workload{Namespace: "batch", Name: "reports", Replicas: 2}
	legacy := simcluster.Workload{Namespace: "legacy", Name: "importer", Replicas: 2}
	web := simcluster.Workload{Namespace: "web", Name: "frontend", Replicas: 2, MemoryRequest: "256Mi", MemoryLimit: "512Mi"}
	if err := c.CreateReplicationController(ctx, jvm); err != nil {
		t.Fatal(err)
	}
	for _, w := range []simcluster.Workload{agent, reports, legacy, web} {
		if err := c.CreateDeployment(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []simcluster.Workload{jvm, agent, reports, legacy, web} {
		if err := c.WaitPodsRunning(ctx, w, int(w.Replicas)); err != nil {
			t.Fatal(err)
		}
	}
	// legacy: the LimitRange comes after its pods.
	apply(strings.ReplaceAll(limitRange, "%s", "legacy"))

	// The admission plugin really gave batch's pods the default.
	pods, err := c.Client.CoreV1().Pods("batch").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if lim := p.Spec.Containers[0].Resources.Limits.Memory(); lim.Value() != 512<<20 {
			t.Fatalf("pod batch/%s has memory limit %v: the LimitRanger admission plugin did not run", p.Name, lim)
		}
	}

	kube := []string{"--kubeconfig", c.Kubeconfig}
	r := nodewatch(t, ctx, nil, nil, append([]string{"audit", "-o", "json"}, kube...)...)
	if r.code != 1 {
		t.Fatalf("audit: exit %d, want 1 (findings)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	live := parseAudit(t, r.stdout)
	if len(live.Skipped) != 0 {
		t.Errorf("live audit skipped checks: %q", live.Skipped)
	}
	got := findingSet(live)
	want := map[string]audit.Severity{
		"BestEffort emails/ReplicationController/unanswered-emails": audit.Warning,
		"NamespaceWithoutLimitRange namespace/emails":               audit.Warning,
		"NamespaceWithoutResourceQuota namespace/emails":            audit.Info,
		"MissingMemoryLimit vendor-system/Deployment/vendor-agent":  audit.Warning,
		"MissingCPURequest vendor-system/Deployment/vendor-agent":   audit.Info,
		"NamespaceWithoutLimitRange namespace/vendor-system":        audit.Warning,
		"NamespaceWithoutResourceQuota namespace/vendor-system":     audit.Info,
		"LimitRangeDefaultNotApplied legacy/Deployment/importer":    audit.Info,
		"NamespaceWithoutResourceQuota namespace/legacy":            audit.Info,
		"NamespaceWithoutResourceQuota namespace/batch":             audit.Info,
	}
	for k, sev := range want {
		if got[k] != sev {
			t.Errorf("%s: severity %q, want %q", k, got[k], sev)
		}
	}
	// Nothing else about the workloads: batch's and legacy's pods are covered
	// by their LimitRange (legacy's once re-created), web declares its memory.
	for k := range got {
		if _, ok := want[k]; !ok && !strings.Contains(k, " node/") && !strings.Contains(k, "namespace/kube-") && !strings.Contains(k, "namespace/default") {
			t.Errorf("unexpected finding %s", k)
		}
	}
	for _, f := range live.Findings {
		switch f.Check + " " + f.Object() {
		case "MissingMemoryLimit vendor-system/Deployment/vendor-agent":
			if f.Fix != "kubectl set resources deployment/vendor-agent -n vendor-system --limits=memory=64Mi" || f.Pods != 1 {
				t.Errorf("third-party agent: %+v", f)
			}
		case "LimitRangeDefaultNotApplied legacy/Deployment/importer":
			if f.Pods != 2 || !strings.Contains(f.Message, "memory limit 512Mi (LimitRange memory-defaults)") || f.Fix != "kubectl rollout restart deployment/importer -n legacy" {
				t.Errorf("legacy: %+v", f)
			}
		}
	}

	// Unbounded pods side by side: exactly the nodes where the scheduler put
	// two or more pods of the workloads without a memory limit.
	unboundedWorkloads := []string{"emails/unanswered-emails", "vendor-system/vendor-agent", "legacy/importer"}
	for _, n := range nodes {
		onNode, err := c.PodsOnNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, p := range onNode {
			if slices.ContainsFunc(unboundedWorkloads, func(w string) bool { return strings.HasPrefix(p, w+"-") }) {
				count++
			}
		}
		f, reported := got["UnboundedPodsTogether node/"+n]
		if (count >= 2) != reported || (reported && f != audit.Critical) {
			t.Errorf("node %s has %d unbounded pods (%v); UnboundedPodsTogether reported=%v severity %q", n, count, onNode, reported, f)
		}
	}

	// One namespace: its findings only, node checks skipped.
	r = nodewatch(t, ctx, nil, nil, append([]string{"audit", "-n", "vendor-system", "-o", "json"}, kube...)...)
	scoped := parseAudit(t, r.stdout)
	if r.code != 1 || scoped.Namespace != "vendor-system" || len(scoped.Skipped) != 1 {
		t.Errorf("audit -n: exit %d namespace %q skipped %q\n%s", r.code, scoped.Namespace, scoped.Skipped, r.stderr)
	}
	for _, f := range scoped.Findings {
		if f.Namespace != "vendor-system" {
			t.Errorf("audit -n vendor-system reported %s %s", f.Check, f.Object())
		}
	}

	// The same audit over what kubectl dumps.
	dump, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.Kubeconfig, "get",
		"nodes,pods,replicasets,jobs,namespaces,limitranges,resourcequotas", "-A", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl get: %v", err)
	}
	file := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(file, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	r = nodewatch(t, ctx, nil, nil, "audit", "-f", file, "-o", "json")
	if r.code != 1 {
		t.Fatalf("audit -f dump: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	fromDump := parseAudit(t, r.stdout)
	if a, b := summarize(live), summarize(fromDump); !slices.Equal(a, b) {
		t.Errorf("dump and live audits differ:\nlive:\n%s\ndump:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}

	// And the text report names the JVM job with its fix.
	r = nodewatch(t, ctx, nil, nil, append([]string{"audit"}, kube...)...)
	if !strings.Contains(r.stdout, "WARNING   emails/ReplicationController/unanswered-emails  BestEffort") ||
		!strings.Contains(r.stdout, "fix: kubectl set resources replicationcontroller/unanswered-emails -n emails") {
		t.Errorf("text report:\n%s", r.stdout)
	}
}

func parseAudit(t *testing.T, out string) *audit.Report {
	t.Helper()
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("audit report is not JSON: %v\n%s", err, out)
	}
	return &r
}

func findingSet(r *audit.Report) map[string]audit.Severity {
	m := map[string]audit.Severity{}
	for _, f := range r.Findings {
		m[f.Check+" "+f.Object()] = f.Severity
	}
	return m
}

// summarize is what a reader of the report sees of each finding.
func summarize(r *audit.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, strings.Join([]string{string(f.Severity), f.Check, f.Object(), f.Message, f.Detail, f.Fix}, " | "))
	}
	return out
}

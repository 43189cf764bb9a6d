package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/simcluster"
	"github.com/nodewatch/nodewatch/internal/testenv"
)

// recommendUsage is the simulated usage of this test. Its spikes last 4 s
// of every 60 s (7 % of the time): rarer than the 10 % above the p90 the
// memory request is taken from, as a batch step every few hours is. (The
// stock usage spikes 15 s of every 90 s, 17 % of the time: the p90, and so
// the request, is then the spike itself, which is the honest answer for a
// container that spends a sixth of its time there.) Leaks are the stock
// ones.
const recommendUsage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: recommend-usage
spec:
  usages:
  - usage:
      cpu:
        expression: '"nodewatch.dev/spike-memory" in pod.metadata.annotations && (int(pod.SinceSecond()) % 60) < 4 ? Quantity("500m") : Quantity("20m")'
      memory:
        expression: |
          "nodewatch.dev/leak-mib-per-min" in pod.metadata.annotations
          ? ("nodewatch.dev/memory" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["nodewatch.dev/memory"]) : Quantity("1Mi"))
            + Quantity("1Mi") * (pod.SinceSecond() / 60.0) * double(pod.metadata.annotations["nodewatch.dev/leak-mib-per-min"])
          : ("nodewatch.dev/spike-memory" in pod.metadata.annotations && (int(pod.SinceSecond()) % 60) < 4
            ? Quantity(pod.metadata.annotations["nodewatch.dev/spike-memory"])
            : ("nodewatch.dev/memory" in pod.metadata.annotations ? Quantity(pod.metadata.annotations["nodewatch.dev/memory"]) : Quantity("1Mi")))
`

type recommendRow struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Pods       int    `json:"pods"`
	Containers []struct {
		Name        string `json:"name"`
		Status      string `json:"status"`
		Note        string `json:"note"`
		Recommended *struct {
			MemoryRequest int64 `json:"memoryRequestBytes"`
			MemoryLimit   int64 `json:"memoryLimitBytes"`
			CPURequest    int64 `json:"cpuRequestMillicores"`
		} `json:"recommended"`
		Details struct {
			Stats struct {
				MemoryPeak float64 `json:"memoryPeakBytes"`
			} `json:"stats"`
		} `json:"details"`
	} `json:"containers"`
}

// TestRecommend: three Deployments without limits — steady at 200 Mi, spiky
// at 100 Mi with short spikes to 1 Gi, leaking 60 Mi a minute — scraped
// every 2 s. recommend sizes the steady one near its level, gives the spiky
// one a request near its base and a limit above its spikes, flags the leak;
// --apply --yes and `-o patch | sh` (kubectl) change the Deployments.
func TestRecommend(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		testenv.Missing(t, simcluster.EnvRequire, "kubectl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	c := simcluster.StartForTest(t, simcluster.Options{})
	if err := c.Apply(ctx, recommendUsage); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNodes(ctx, "node", 2, simcluster.NodeSize{}); err != nil {
		t.Fatal(err)
	}
	workloads := []simcluster.Workload{
		{Namespace: "web", Name: "steady", Replicas: 2, Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi"}},
		{Namespace: "batch", Name: "spiky", Replicas: 1, Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi", simcluster.AnnotationSpike: "1Gi"}},
		{Namespace: "emails", Name: "leaky", Replicas: 1, Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi", simcluster.AnnotationLeak: "60"}},
	}
	for _, w := range workloads {
		if err := c.CreateDeployment(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range workloads {
		if err := c.WaitPodsRunning(ctx, w, int(w.Replicas)); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, c.Kubeconfig, t.TempDir(), nil, "--scrape-interval", "2s", "--scrape-timeout", "2s", "--kubelet-insecure-tls")
	server := "http://" + d.addr
	// Two minutes of history at least (two spikes), 40 samples a container.
	base := []string{"recommend", "--nodewatch-url", server, "--kubeconfig", c.Kubeconfig, "--since", "15m", "--min-history", "2m", "--min-samples", "40"}

	var rows map[string]recommendRow
	var last result
	waitFor(t, ctx, 5*time.Minute, "recommendations for the steady and spiky Deployments", func() bool {
		time.Sleep(5 * time.Second)
		last = nodewatch(t, ctx, nil, nil, append(base, "-A", "-o", "json")...)
		var r struct {
			Workloads []recommendRow `json:"workloads"`
		}
		if last.code != 0 || json.Unmarshal([]byte(last.stdout), &r) != nil {
			return false
		}
		rows = map[string]recommendRow{}
		for _, w := range r.Workloads {
			rows[w.Namespace+"/"+w.Name] = w
		}
		for _, k := range []string{"web/steady", "batch/spiky", "emails/leaky"} {
			if len(rows[k].Containers) != 1 || rows[k].Containers[0].Status == "not-enough-data" {
				return false
			}
		}
		return rows["batch/spiky"].Containers[0].Details.Stats.MemoryPeak >= 1<<30 // a spike was scraped
	})
	t.Logf("recommend -o json:\n%s", last.stdout)
	steady, spiky, leaky := rows["web/steady"].Containers[0], rows["batch/spiky"].Containers[0], rows["emails/leaky"].Containers[0]
	if steady.Recommended == nil || steady.Recommended.MemoryRequest < 200<<20 || steady.Recommended.MemoryRequest > 240<<20 ||
		steady.Recommended.MemoryLimit < steady.Recommended.MemoryRequest || rows["web/steady"].Pods != 2 {
		t.Errorf("steady (200 Mi): %+v %s, want a request of 200–240 Mi", steady.Recommended, steady.Note)
	}
	if spiky.Recommended == nil || spiky.Recommended.MemoryRequest < 100<<20 || spiky.Recommended.MemoryRequest > 130<<20 ||
		spiky.Details.Stats.MemoryPeak != 1<<30 || spiky.Recommended.MemoryLimit < 1<<30 {
		t.Errorf("spiky (100 Mi, 1 Gi spikes): %+v peak %.0f %s, want a request near 100 Mi and a limit above 1 Gi",
			spiky.Recommended, spiky.Details.Stats.MemoryPeak, spiky.Note)
	}
	if spiky.Recommended != nil && spiky.Recommended.CPURequest > 100 {
		t.Errorf("spiky CPU request %dm, want near its 20m base (500m only 7 %% of the time)", spiky.Recommended.CPURequest)
	}
	if leaky.Status != "leak" || leaky.Recommended != nil || !strings.HasPrefix(leaky.Note, "leak: fix the leak first") {
		t.Errorf("leaky: %s %q %+v, want flagged as a leak and not sized", leaky.Status, leaky.Note, leaky.Recommended)
	}

	// --apply without --yes refuses; with it, the steady Deployment changes.
	if r := nodewatch(t, ctx, nil, nil, append(base, "-n", "web", "--apply")...); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("--apply without --yes: exit %d\n%s", r.code, r.stderr)
	}
	r := nodewatch(t, ctx, nil, nil, append(base, "-n", "web", "--apply", "--yes")...)
	if r.code != 0 || !strings.Contains(r.stdout, "deployment/steady patched") {
		t.Fatalf("--apply --yes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkResources(t, ctx, c, "web", "steady", 200<<20, 240<<20, 200<<20)

	// -o patch piped through kubectl: the spiky Deployment changes, the
	// leaking one gets no patch.
	r = nodewatch(t, ctx, nil, nil, append(base, "-A", "-o", "patch")...)
	if r.code != 0 || !strings.Contains(r.stdout, "kubectl patch deployment/spiky -n batch --type strategic -p '") ||
		!strings.Contains(r.stdout, "# emails Deployment/leaky: no patch: leaky: leak: fix the leak first") {
		t.Fatalf("-o patch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("recommend -o patch:\n%s", r.stdout)
	sh := exec.CommandContext(ctx, "sh", "-e")
	sh.Stdin = strings.NewReader(r.stdout)
	var out bytes.Buffer
	sh.Stdout, sh.Stderr = &out, &out
	if err := sh.Run(); err != nil || !strings.Contains(out.String(), "deployment.apps/spiky patched") {
		t.Fatalf("kubectl: %v\n%s", err, out.String())
	}
	checkResources(t, ctx, c, "batch", "spiky", 100<<20, 130<<20, 1<<30)
	leakyDep, err := c.Client.AppsV1().Deployments("emails").Get(ctx, "leaky", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res := leakyDep.Spec.Template.Spec.Containers[0].Resources; len(res.Requests) != 0 || len(res.Limits) != 0 {
		t.Errorf("the leaking Deployment was given resources: %+v", res)
	}
}

// checkResources reads a Deployment back and checks its container's memory
// request is in [lo, hi] and its memory limit at least minLimit.
func checkResources(t *testing.T, ctx context.Context, c *simcluster.Cluster, ns, name string, lo, hi, minLimit int64) {
	t.Helper()
	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := dep.Spec.Template.Spec.Containers[0].Resources
	req, lim := res.Requests[corev1.ResourceMemory], res.Limits[corev1.ResourceMemory]
	if req.Value() < lo || req.Value() > hi || lim.Value() < minLimit || res.Requests.Cpu().IsZero() {
		t.Errorf("%s/%s after the patch: requests %v limits %v; want a memory request in [%d, %d] Mi, a limit ≥ %d Mi and a CPU request",
			ns, name, res.Requests, res.Limits, lo>>20, hi>>20, minLimit>>20)
	}
}

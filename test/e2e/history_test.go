package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// promQuery runs an instant PromQL query against the daemon's API and
// returns the values by the given label.
func promQuery(t *testing.T, addr, q, by string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %s %v", q, body, err)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(s.Value[1].(string), 64)
		if err != nil {
			t.Fatal(err)
		}
		out[s.Metric[by]] = v
	}
	return out
}

// TestHistory: kwok's kubelets report constant, leaking and spiky memory
// and node page faults; nodewatch scrapes them into its history, answers
// PromQL over HTTP with the simulated values, and keeps every sample older
// than one interval across a SIGKILL.
func TestHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, nodes := usageCluster(t, ctx, simcluster.Options{}, 2, simcluster.NodeSize{})
	workloads := []simcluster.Workload{
		{Namespace: "web", Name: "steady", Replicas: 2, Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi"}},
		{Namespace: "emails", Name: "leaky", Replicas: 1, Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi", simcluster.AnnotationLeak: "60"}},
		{Namespace: "batch", Name: "spiky", Replicas: 1, Annotations: map[string]string{simcluster.AnnotationMemory: "50Mi", simcluster.AnnotationSpike: "1Gi"}},
		// 400 MiB a minute for its first 15 s, then a plateau at 200Mi.
		{Namespace: "events", Name: "warming", Replicas: 1, Annotations: map[string]string{
			simcluster.AnnotationMemory: "100Mi", simcluster.AnnotationLeak: "400", simcluster.AnnotationWarmup: "15"}},
	}
	deploy(t, ctx, c, workloads...)
	dataDir := t.TempDir()
	args := []string{"--scrape-interval", "2s", "--scrape-timeout", "2s", "--kubelet-insecure-tls"}
	d := startDaemon(t, c.Kubeconfig, dataDir, nil, args...)
	time.Sleep(20 * time.Second)

	steady := promQuery(t, d.addr, `container_memory_working_set_bytes{namespace="web",pod=~"steady-.*"}`, "pod")
	if len(steady) != 2 {
		t.Fatalf("steady pods in the history: %v\nnodewatch log:\n%s", steady, tail([]byte(d.log()), 3000))
	}
	for pod, v := range steady {
		if v != 200<<20 {
			t.Errorf("%s working set %v, want 200Mi", pod, v)
		}
	}
	if w := promQuery(t, d.addr, `count by (workload) (container_memory_working_set_bytes{workload="steady",workload_kind="Deployment"})`, "workload"); w["steady"] != 2 {
		t.Errorf("series labelled with their workload: %v", w)
	}
	// The warm-up: grown by 100 MiB in its first 15 s, then flat.
	warm := promQuery(t, d.addr, `container_memory_working_set_bytes{namespace="events",pod=~"warming-.*"}`, "pod")
	for pod, v := range warm {
		if math.Abs(v-200<<20) > 1<<20 {
			t.Errorf("%s working set %.1f MiB after its warm-up, want its plateau at 200 MiB", pod, v/(1<<20))
		}
	}
	if len(warm) != 1 {
		t.Errorf("warming pods in the history: %v", warm)
	}
	// The leak: 60 MiB a minute, measured from the stored history.
	slope := promQuery(t, d.addr, `deriv(container_memory_working_set_bytes{pod=~"leaky-.*"}[1m]) * 60 / 2^20`, "pod")
	for pod, v := range slope {
		if math.Abs(v-60) > 6 {
			t.Errorf("%s grows %.1f MiB/min in the history, want 60 ± 10%%", pod, v)
		}
	}
	if len(slope) != 1 {
		t.Errorf("leaky pods: %v", slope)
	}
	maxLeak := promQuery(t, d.addr, `max_over_time(container_memory_working_set_bytes{pod=~"leaky-.*"}[10m])`, "pod")
	last := promQuery(t, d.addr, `container_memory_working_set_bytes{pod=~"leaky-.*"}`, "pod")
	for pod, v := range maxLeak {
		if v != last[pod] || v <= 100<<20 {
			t.Errorf("max_over_time for a growing series = %v, want its latest value %v (> 100Mi)", v, last[pod])
		}
	}

	// Page faults: the node's counter, bumped the way thrashing would.
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"123456",%q:"987654321"}}}`, simcluster.AnnotationPgMajFault, simcluster.AnnotationDiskReadsBy)
	if _, err := c.Client.CoreV1().Nodes().Patch(ctx, nodes[0], types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 30*time.Second, "page faults in the history", func() bool {
		pf := promQuery(t, d.addr, `container_memory_failures_total{failure_type="pgmajfault",id="/"}`, "node")
		return pf[nodes[0]] == 123456 && pf[nodes[1]] == 0
	})
	if r := promQuery(t, d.addr, `container_fs_reads_bytes_total{id="/"}`, "node"); r[nodes[0]] != 987654321 {
		t.Errorf("disk reads %v", r)
	}
	if e := promQuery(t, d.addr, `nodewatch_scrape_error`, "node"); len(e) != 2 || e[nodes[0]] != 0 {
		t.Errorf("scrape-error series %v, want 0 for both nodes", e)
	}

	// nodewatch top: usage from the history next to requests and limits.
	r := nodewatch(t, ctx, nil, nil, "top", "pods", "-n", "web", "-o", "json", "--nodewatch-url", "http://"+d.addr, "--kubeconfig", c.Kubeconfig)
	var rows []struct {
		Name   string `json:"name"`
		Memory int64  `json:"memoryWorkingSet"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("top pods -n web: %v\n%s%s", err, r.stdout, r.stderr)
	}
	for _, row := range rows {
		if row.Memory != 200<<20 {
			t.Errorf("top pods: %s uses %d, want 200Mi", row.Name, row.Memory)
		}
	}
	r = nodewatch(t, ctx, nil, nil, "top", "nodes", "--nodewatch-url", "http://"+d.addr, "--kubeconfig", c.Kubeconfig)
	if r.code != 0 || !strings.Contains(r.stdout, nodes[0]) || !strings.Contains(r.stdout, "MAJOR FAULTS/s") {
		t.Errorf("top nodes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// nodewatch history: the leaking pod's memory climbs.
	var leakyPod string
	for pod := range last {
		leakyPod = pod
	}
	r = nodewatch(t, ctx, nil, nil, "history", leakyPod, "-n", "emails", "--since", "5m", "-o", "json", "--nodewatch-url", "http://"+d.addr)
	var hist []struct {
		Container string `json:"container"`
		Min, Max  int64
		Points    []struct{ Bytes int64 }
	}
	if err := json.Unmarshal([]byte(r.stdout), &hist); err != nil || len(hist) != 1 || len(hist[0].Points) < 5 || hist[0].Max <= hist[0].Min {
		t.Errorf("history %s: %v %+v\n%s", leakyPod, err, hist, r.stderr)
	}
	if r := nodewatch(t, ctx, nil, nil, "history", leakyPod, "-n", "emails", "--since", "5m", "--nodewatch-url", "http://"+d.addr); r.code != 0 || !strings.ContainsAny(r.stdout, "▁▂▃▄▅▆▇█") {
		t.Errorf("history text: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// nodewatch leaks: the leaking pod is named, the steady ones are not.
	r = nodewatch(t, ctx, nil, nil, "leaks", "-A", "--all", "--since", "2m", "--min-history", "15s", "--min-samples", "6",
		"-o", "json", "--nodewatch-url", "http://"+d.addr)
	var verdicts []struct {
		Pod     string `json:"pod"`
		Verdict struct {
			Leak         bool    `json:"leak"`
			BytesPerHour float64 `json:"bytesPerHour"`
			Reason       string  `json:"reason"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &verdicts); err != nil {
		t.Fatalf("leaks -o json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	judged := 0
	for _, v := range verdicts {
		switch {
		case strings.HasPrefix(v.Pod, "leaky-"):
			judged++
			if !v.Verdict.Leak || math.Abs(v.Verdict.BytesPerHour/(1<<20)-3600) > 360 {
				t.Errorf("leaky pod %s: %+v, want a leak of 3600 MiB/h ± 10%%", v.Pod, v.Verdict)
			}
		case strings.HasPrefix(v.Pod, "steady-"):
			judged++
			if v.Verdict.Leak {
				t.Errorf("steady pod %s called a leak: %+v", v.Pod, v.Verdict)
			}
		}
	}
	if judged != 3 {
		t.Errorf("judged %d of the 3 leaky/steady pods: %s", judged, r.stdout)
	}

	// SIGKILL, restart: every sample older than one interval is still there.
	at := time.Now().Add(-3 * time.Second)
	countQ := fmt.Sprintf(`count_over_time(container_memory_working_set_bytes{pod=~"steady-.*"}[1h] @ %d)`, at.Unix())
	before := promQuery(t, d.addr, countQ, "pod")
	d.kill()
	d = startDaemon(t, c.Kubeconfig, dataDir, nil, args...)
	after := promQuery(t, d.addr, countQ, "pod")
	for pod, n := range before {
		if after[pod] != n || n < 5 {
			t.Errorf("%s: %v samples before the SIGKILL, %v after; want the same (and at least 5)", pod, n, after[pod])
		}
	}
	_ = corev1.PodRunning
}

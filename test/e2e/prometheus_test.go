package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/peers/promtest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// prometheusConfig has Prometheus scrape every node's simulated kubelet
// (/metrics/resource and /metrics/cadvisor) with a node label, as a team's
// own Prometheus would.
func prometheusConfig(t *testing.T, ctx context.Context, c *simcluster.Cluster) string {
	t.Helper()
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ptrs := make([]*corev1.Node, len(nodes.Items))
	for i := range nodes.Items {
		ptrs[i] = &nodes.Items[i]
	}
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n")
	for _, job := range []string{"resource", "cadvisor"} {
		fmt.Fprintf(&b, "- job_name: kubelet-%s\n  scheme: https\n  tls_config:\n    insecure_skip_verify: true\n  static_configs:\n", job)
		targets := collect.Targets(ptrs, []corev1.NodeAddressType{corev1.NodeInternalIP}, "https")
		if len(targets) == 0 {
			t.Fatal("no kubelet endpoints in the nodes' status")
		}
		for _, tg := range targets {
			path := tg.ResourcePath
			if job == "cadvisor" {
				path = tg.CadvisorPath
			}
			fmt.Fprintf(&b, "  - targets: [%q]\n    labels:\n      __metrics_path__: %q\n      node: %q\n",
				strings.TrimPrefix(tg.Base, "https://"), path, tg.Node)
		}
	}
	return b.String()
}

// TestHistoryFromPrometheus: with --prometheus-url the daemon keeps no
// history of its own and reads a real Prometheus (built from the module
// proxy) that scrapes the simulated kubelets: its query API, `top`, and
// `leaks` answer from Prometheus' data. With --remote-write-url a scraping
// daemon forwards its samples into that Prometheus.
func TestHistoryFromPrometheus(t *testing.T) {
	bin := promtest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, nodes := usageCluster(t, ctx, simcluster.Options{}, 2, simcluster.NodeSize{})
	workloads := []simcluster.Workload{
		{Namespace: "web", Name: "steady", Replicas: 2, Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi"}},
		{Namespace: "emails", Name: "leaky", Replicas: 1, Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi", simcluster.AnnotationLeak: "60"}},
	}
	deploy(t, ctx, c, workloads...)
	prom := promtest.Start(t, bin, prometheusConfig(t, ctx, c))

	dataDir := t.TempDir()
	d := startDaemon(t, c.Kubeconfig, dataDir, nil, "--prometheus-url", prom)
	if !strings.Contains(d.log(), "reading the resource history from a Prometheus-compatible store") {
		t.Errorf("the daemon does not say where its history comes from:\n%s", tail([]byte(d.log()), 3000))
	}
	waitFor(t, ctx, 60*time.Second, "Prometheus' samples through the daemon", func() bool {
		return len(promQuery(t, d.addr, `container_memory_working_set_bytes{namespace="web",container!=""}`, "pod")) == 2
	})
	time.Sleep(20 * time.Second) // history for the leak's slope
	steady := promQuery(t, d.addr, `container_memory_working_set_bytes{namespace="web",container!=""}`, "pod")
	for pod, v := range steady {
		if v != 200<<20 {
			t.Errorf("%s working set %v through the daemon, want 200Mi", pod, v)
		}
	}
	if pf := promQuery(t, d.addr, `container_memory_failures_total{failure_type="pgmajfault",id="/"}`, "node"); len(pf) != len(nodes) {
		t.Errorf("node page-fault series through the daemon: %v, want one per node %v", pf, nodes)
	}

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
			t.Errorf("top pods from Prometheus: %s uses %d, want 200Mi", row.Name, row.Memory)
		}
	}

	r = nodewatch(t, ctx, nil, nil, "leaks", "-n", "emails", "--since", "2m", "--min-history", "15s", "--min-samples", "6",
		"-o", "json", "--nodewatch-url", "http://"+d.addr)
	var verdicts []struct {
		Pod     string `json:"pod"`
		Verdict struct {
			Leak         bool    `json:"leak"`
			BytesPerHour float64 `json:"bytesPerHour"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &verdicts); err != nil {
		t.Fatalf("leaks -o json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	found := false
	for _, v := range verdicts {
		if strings.HasPrefix(v.Pod, "leaky-") && v.Verdict.Leak && math.Abs(v.Verdict.BytesPerHour/(1<<20)-3600) <= 360 {
			found = true
		}
	}
	if !found {
		t.Errorf("leaks from Prometheus' history: no leak of 3600 MiB/h ± 10%% in %s\n%s", r.stdout, r.stderr)
	}

	// Remote write: a second daemon scrapes and forwards into Prometheus.
	// Its series carry no job label (Prometheus' own scrapes do).
	fwd := startDaemon(t, c.Kubeconfig, t.TempDir(), nil, "--scrape-interval", "2s", "--scrape-timeout", "2s",
		"--kubelet-insecure-tls", "--remote-write-url", prom+"/api/v1/write")
	promAddr := strings.TrimPrefix(prom, "http://")
	waitFor(t, ctx, 60*time.Second, "remote-written samples in Prometheus", func() bool {
		return len(promQuery(t, promAddr, `nodewatch_scrape_error`, "node")) == len(nodes) &&
			len(promQuery(t, promAddr, `container_memory_working_set_bytes{namespace="web",job=""}`, "pod")) == 2
	})
	for pod, v := range promQuery(t, promAddr, `container_memory_working_set_bytes{namespace="web",job=""}`, "pod") {
		if v != 200<<20 {
			t.Errorf("%s forwarded as %v, want 200Mi", pod, v)
		}
	}
	if w := promQuery(t, promAddr, `count by (workload) (container_memory_working_set_bytes{job="",workload="steady"})`, "workload"); w["steady"] != 2 {
		t.Errorf("forwarded series lack the workload label: %v", w)
	}
	if !strings.Contains(fwd.log(), "nodewatch running") || strings.Contains(fwd.log(), "remote write failed") {
		t.Errorf("forwarding daemon log:\n%s", tail([]byte(fwd.log()), 3000))
	}
}

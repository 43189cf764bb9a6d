package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// ---- cluster population ----

// populate adds n nodes named prefix-i and pods in Deployments of up to 100
// replicas, 3 per namespace (numbered on from podsBefore), and waits until
// every pod in the cluster runs.
func populate(ctx context.Context, o options, c *simcluster.Cluster, prefix string, n, pods, podsBefore int) error {
	if n > 0 {
		logf("adding %d nodes", n)
		if _, err := c.AddNodes(ctx, prefix, n, simcluster.NodeSize{Pods: "110"}); err != nil {
			return err
		}
	}
	for done := 0; done < pods; {
		i := (podsBefore + done) / 100
		replicas := min(100, pods-done)
		w := simcluster.Workload{Namespace: fmt.Sprintf("bench-%03d", i/3), Name: fmt.Sprintf("app-%04d", i), Replicas: int32(replicas)} //nolint:gosec // G115: at most 100
		if i%2 == 0 {
			w.MemoryRequest, w.MemoryLimit = "64Mi", "128Mi"
		}
		if err := c.CreateDeployment(ctx, w); err != nil {
			return fmt.Errorf("creating %s/%s: %w", w.Namespace, w.Name, err)
		}
		done += replicas
	}
	want := podsBefore + pods
	logf("waiting for %d pods to run", want)
	cs, err := protobufClient(c)
	if err != nil {
		return err
	}
	start, lastLog := time.Now(), time.Now()
	err = waitFor(ctx, o.populate, func() bool {
		l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false
		}
		running := 0
		for i := range l.Items {
			if p := &l.Items[i]; p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		if time.Since(lastLog) > 30*time.Second {
			logf("  %d/%d pods running after %s", running, want, time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		if running >= want {
			logf("  %d pods running after %s", running, time.Since(start).Round(time.Second))
		}
		return running >= want
	}, 5*time.Second)
	return err
}

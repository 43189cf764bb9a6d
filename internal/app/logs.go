package app

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
)

// logTailLines and logTailPods bound what a failing-workload alert carries.
const (
	logTailLines = 10
	logTailPods  = 2
)

// logTails reads the last lines of the previous container's log for the
// first pods of a newly failing workload, by pod name, where RBAC
// (pods/log) and the kubelet allow; any error just leaves a pod out.
func logTails(ctx context.Context, client kubernetes.Interface, r *health.WorkloadReport) map[string][]string {
	out := map[string][]string{}
	for i, p := range r.Pods {
		if i == logTailPods {
			break
		}
		if p.Container == "" || p.Reason == "Unschedulable" || p.Reason == "Evicted" {
			continue
		}
		if tail := previousLog(ctx, client, r.Namespace, p.Name, p.Container); tail != nil {
			out[p.Name] = tail
		}
	}
	return out
}

func previousLog(ctx context.Context, client kubernetes.Interface, namespace, pod, container string) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	lines := int64(logTailLines)
	limit := int64(8 << 10)
	raw, err := client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: true, TailLines: &lines, LimitBytes: &limit,
	}).DoRaw(ctx)
	if err != nil {
		return nil
	}
	text := strings.TrimRight(string(raw), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// Kubelet logs for node incidents: asked for every kubeletLogEvery, at most
// kubeletLogReaders at a time, each given up after kubeletLogTimeout (a
// down node's kubelet often does not answer at all).
const (
	kubeletLogEvery   = 2 * time.Second
	kubeletLogReaders = 8
	kubeletLogTimeout = 15 * time.Second
)

// kubeletLogRequester is what readKubeletLogs needs of the incident manager.
type kubeletLogRequester interface {
	KubeletLogRequests() []incident.LogRequest
	AttachKubeletLog(id string, lines []string, err error)
}

var _ kubeletLogRequester = (*incident.Manager)(nil)

// readKubeletLogs answers the manager's requests for failed nodes' kubelet
// logs through the API server's node proxy (kube.KubeletLog) until ctx
// ends, off the manager's lock and the detection loop.
func readKubeletLogs(ctx context.Context, client kubernetes.Interface, mgr kubeletLogRequester, lines int) {
	sem := make(chan struct{}, kubeletLogReaders)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(kubeletLogEvery)
	defer tick.Stop()
	for {
		for _, r := range mgr.KubeletLogRequests() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				rctx, cancel := context.WithTimeout(ctx, kubeletLogTimeout)
				defer cancel()
				got, err := kube.KubeletLog(rctx, client, r.Node, r.From, r.To, lines)
				if ctx.Err() != nil {
					return // shutting down: no answer
				}
				mgr.AttachKubeletLog(r.Incident, got, err)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

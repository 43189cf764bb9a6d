package app

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodewatch/nodewatch/internal/health"
)

// logTailLines and logTailPods bound what a failing-workload alert carries.
const (
	logTailLines = 10
	logTailPods  = 2
)

// addLogTails fills the last lines of the previous container's log for the
// first pods of a newly failing workload, where RBAC (pods/log) and the
// kubelet allow; any error just leaves the tail empty.
func addLogTails(ctx context.Context, client kubernetes.Interface, r *health.WorkloadReport) {
	for i := range r.Pods {
		if i == logTailPods {
			return
		}
		p := &r.Pods[i]
		if p.Container == "" || p.Reason == "Unschedulable" || p.Reason == "Evicted" {
			continue
		}
		p.LogTail = previousLog(ctx, client, r.Namespace, p.Name, p.Container)
	}
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

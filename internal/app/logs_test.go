package app

import (
	"context"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/nodewatch/nodewatch/internal/health"
)

func TestAddLogTails(t *testing.T) {
	client := fake.NewClientset()
	r := &health.WorkloadReport{Namespace: "emails", Kind: "Deployment", Name: "digest", Pods: []health.FailingPod{
		{Name: "a", Container: "digest", Reason: "CrashLoopBackOff"},
		{Name: "b", Container: "", Reason: "CrashLoopBackOff"},
		{Name: "c", Container: "digest", Reason: "Unschedulable"},
		{Name: "d", Container: "digest", Reason: "CrashLoopBackOff"},
	}}
	addLogTails(context.Background(), client, r)
	// The fake clientset answers every log request with "fake logs".
	if got := r.Pods[0].LogTail; len(got) != 1 || got[0] != "fake logs" {
		t.Errorf("pod a: %q, want the previous container's log", got)
	}
	for _, i := range []int{1, 2, 3} {
		if r.Pods[i].LogTail != nil {
			t.Errorf("pod %s: %q; want none (no container, unschedulable, or past the %d-pod limit)", r.Pods[i].Name, r.Pods[i].LogTail, logTailPods)
		}
	}
}

package cluster

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1]) //nolint:gosec // G602: kv holds name, value pairs
	}
	return l
}

func ctr(name string, req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func mib(n int64) *int64 { v := n << 20; return &v }

// TestPodResources: the effective memory request and limit and the QoS
// class follow the scheduler's and kubelet's rules.
func TestPodResources(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := ctr("proxy", res("memory", "32Mi"), res("memory", "32Mi"))
	sidecar.RestartPolicy = &always
	cases := []struct {
		name     string
		spec     corev1.PodSpec
		req, lim *int64
		qos      string
	}{
		{"no resources", corev1.PodSpec{Containers: []corev1.Container{ctr("app", nil, nil)}}, nil, nil, "BestEffort"},
		{"limit only: request defaults to it", corev1.PodSpec{Containers: []corev1.Container{ctr("app", nil, res("memory", "256Mi", "cpu", "1"))}},
			mib(256), mib(256), "Guaranteed"},
		{"one container unbounded", corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", res("memory", "64Mi"), res("memory", "128Mi")), ctr("b", res("memory", "64Mi"), nil)}},
			mib(128), nil, "Burstable"},
		{"big init container wins", corev1.PodSpec{
			InitContainers: []corev1.Container{ctr("migrate", res("memory", "1Gi"), nil)},
			Containers:     []corev1.Container{ctr("app", res("memory", "100Mi"), res("memory", "100Mi"))}},
			mib(1024), mib(100), "Burstable"},
		{"sidecar adds to the app", corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar},
			Containers:     []corev1.Container{ctr("app", res("memory", "100Mi"), res("memory", "100Mi"))}},
			mib(132), mib(132), "Burstable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PodFrom(&corev1.Pod{Spec: tc.spec})
			if !eqPtr(p.MemoryRequest, tc.req) || !eqPtr(p.MemoryLimit, tc.lim) {
				t.Errorf("request %v limit %v, want %v %v", deref(p.MemoryRequest), deref(p.MemoryLimit), deref(tc.req), deref(tc.lim))
			}
			if p.QOS != tc.qos {
				t.Errorf("QoS %s, want %s", p.QOS, tc.qos)
			}
			if len(p.Containers) != len(tc.spec.InitContainers)+len(tc.spec.Containers) {
				t.Errorf("containers %+v", p.Containers)
			}
		})
	}
}

// TestPodStatus: what the workload rules read survives the conversion.
func TestPodStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	del := metav1.NewTime(t0)
	p := PodFrom(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n", DeletionTimestamp: &del},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(t0)}}}},
		}})
	if !p.Deleting || p.Reason != "Evicted" || p.Message != "low on memory" || !p.LastTransition.Equal(t0.Add(-time.Minute)) {
		t.Errorf("pod status %+v", p)
	}
	if p.Restarts != 4 || len(p.Statuses) != 1 {
		t.Fatalf("statuses %+v", p.Statuses)
	}
	s := p.Statuses[0]
	if s.Waiting != "CrashLoopBackOff" || s.WaitingMessage != "back-off" || s.Terminated != nil ||
		s.LastTermination == nil || s.LastTermination.Reason != "OOMKilled" || s.LastTermination.ExitCode != 137 {
		t.Errorf("status %+v last %+v", s, s.LastTermination)
	}
}

func eqPtr(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

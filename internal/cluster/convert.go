package cluster

import (
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeFrom converts a v1.Node.
func NodeFrom(n *corev1.Node) Node {
	out := Node{Name: n.Name, Unschedulable: n.Spec.Unschedulable}
	if m, ok := n.Status.Allocatable[corev1.ResourceMemory]; ok {
		out.AllocatableMemory = m.Value()
	}
	if len(n.Status.Conditions) > 0 {
		out.Conditions = make([]Condition, 0, len(n.Status.Conditions))
		for _, c := range n.Status.Conditions {
			out.Conditions = append(out.Conditions, Condition{
				Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message,
				Since: c.LastTransitionTime.Time,
			})
		}
	}
	return out
}

// intern shares one copy of the strings thousands of pods repeat
// (namespaces, node and owner names, phases, reasons): a 30,000-pod cache
// holds a few hundred distinct values of each.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// ControllerOf returns the controlling owner reference, if any.
func ControllerOf(refs []metav1.OwnerReference) Owner {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return Owner{Kind: r.Kind, Name: r.Name}
		}
	}
	return Owner{}
}

// PodFrom converts a v1.Pod.
func PodFrom(p *corev1.Pod) Pod {
	owner := ControllerOf(p.OwnerReferences)
	out := Pod{
		Namespace:    intern(p.Namespace),
		Name:         p.Name,
		NodeName:     intern(p.Spec.NodeName),
		Owner:        Owner{Kind: intern(owner.Kind), Name: intern(owner.Name)},
		TemplateHash: intern(p.Labels["pod-template-hash"]),
		Phase:        intern(string(p.Status.Phase)),
		QOS:          intern(string(p.Status.QOSClass)),
		Reason:       intern(p.Status.Reason),
		Message:      p.Status.Message,
		Deleting:     p.DeletionTimestamp != nil,
	}
	if n := len(p.Spec.InitContainers) + len(p.Spec.Containers); n > 0 {
		out.Containers = make([]Container, 0, n)
		for i := range p.Spec.InitContainers {
			c := &p.Spec.InitContainers[i]
			sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
			out.Containers = append(out.Containers, containerFrom(c, true, sidecar))
		}
		for i := range p.Spec.Containers {
			out.Containers = append(out.Containers, containerFrom(&p.Spec.Containers[i], false, false))
		}
	}
	if out.QOS == "" {
		out.QOS = qosClass(out.Containers)
	}
	out.MemoryRequest, out.MemoryLimit = memory(out.Containers)
	if len(p.Status.ContainerStatuses) > 0 {
		out.Statuses = make([]ContainerStatus, len(p.Status.ContainerStatuses))
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			out.Restarts += cs.RestartCount
			st := ContainerStatus{Name: intern(cs.Name), Restarts: cs.RestartCount,
				Terminated: terminationFrom(cs.State.Terminated), LastTermination: terminationFrom(cs.LastTerminationState.Terminated)}
			if w := cs.State.Waiting; w != nil {
				st.Waiting, st.WaitingMessage = intern(w.Reason), w.Message
			}
			out.Statuses[i] = st
		}
	}
	for _, c := range p.Status.Conditions {
		if c.LastTransitionTime.After(out.LastTransition) {
			out.LastTransition = c.LastTransitionTime.Time
		}
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			out.Unschedulable = true
			out.UnschedulableMessage = c.Message
			out.UnschedulableSince = c.LastTransitionTime.Time
		}
	}
	return out
}

func containerFrom(c *corev1.Container, init, sidecar bool) Container {
	return Container{Name: intern(c.Name), Init: init, Sidecar: sidecar,
		Requests: resourcesFrom(c.Resources.Requests), Limits: resourcesFrom(c.Resources.Limits)}
}

func resourcesFrom(l corev1.ResourceList) Resources {
	var r Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		v := q.MilliValue()
		r.MilliCPU = &v
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		v := q.Value()
		r.Memory = &v
	}
	return r
}

func terminationFrom(t *corev1.ContainerStateTerminated) *Termination {
	if t == nil {
		return nil
	}
	return &Termination{Reason: intern(t.Reason), Message: t.Message, ExitCode: t.ExitCode, FinishedAt: t.FinishedAt.Time}
}

// memory returns the pod's effective memory request and its limit, as the
// scheduler and kubelet see them: the larger of the sum over app containers
// (restartable init containers, i.e. sidecars, included) and the largest
// regular init container. The limit is nil when any app or sidecar
// container has none.
func memory(cs []Container) (request, limit *int64) {
	var req, lim, initMax int64
	anyReq, unbounded, apps := false, false, 0
	for _, c := range cs {
		r := c.Requests.Memory
		if r == nil {
			r = c.Limits.Memory // the API server defaults a missing request to the limit
		}
		if r != nil {
			anyReq = true
			switch {
			case !c.Init || c.Sidecar:
				req += *r
			case *r > initMax:
				initMax = *r
			}
		}
		if c.Init && !c.Sidecar {
			continue // runs before the app, bounded or not; sidecars run beside it
		}
		apps++
		if c.Limits.Memory != nil {
			lim += *c.Limits.Memory
		} else {
			unbounded = true
		}
	}
	req = max(req, initMax)
	if anyReq {
		request = &req
	}
	if !unbounded && apps > 0 {
		limit = &lim
	}
	return request, limit
}

// qosClass derives the QoS class for pods whose status does not carry one,
// following the kubelet's rules for CPU and memory.
func qosClass(cs []Container) string {
	guaranteed, any := true, false
	for _, c := range cs {
		for _, pair := range [][2]*int64{{c.Requests.MilliCPU, c.Limits.MilliCPU}, {c.Requests.Memory, c.Limits.Memory}} {
			req, lim := pair[0], pair[1]
			if req != nil || lim != nil {
				any = true
			}
			if lim == nil || (req != nil && *req != *lim) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return string(corev1.PodQOSBestEffort)
	case guaranteed:
		return string(corev1.PodQOSGuaranteed)
	default:
		return string(corev1.PodQOSBurstable)
	}
}

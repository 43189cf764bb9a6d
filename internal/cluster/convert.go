package cluster

import (
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
	out := Pod{
		Namespace:    p.Namespace,
		Name:         p.Name,
		NodeName:     p.Spec.NodeName,
		Owner:        ControllerOf(p.OwnerReferences),
		TemplateHash: p.Labels["pod-template-hash"],
		Phase:        string(p.Status.Phase),
		QOS:          string(p.Status.QOSClass),
	}
	if out.QOS == "" {
		out.QOS = string(qosClass(&p.Spec))
	}
	out.MemoryRequest, out.MemoryLimit = memory(&p.Spec)
	for _, cs := range p.Status.ContainerStatuses {
		out.Restarts += cs.RestartCount
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			out.Unschedulable = true
			out.UnschedulableMessage = c.Message
			out.UnschedulableSince = c.LastTransitionTime.Time
		}
	}
	return out
}

// memory returns the pod's effective memory request and its limit, as the
// scheduler and kubelet see them: the larger of the sum over app containers
// (restartable init containers, i.e. sidecars, included) and the largest
// regular init container. The limit is nil when any app container has none.
func memory(spec *corev1.PodSpec) (request, limit *int64) {
	var req, lim int64
	anyReq, unbounded := false, false
	for i := range spec.Containers {
		r := spec.Containers[i].Resources
		if q, ok := r.Requests[corev1.ResourceMemory]; ok {
			req += q.Value()
			anyReq = true
		} else if q, ok := r.Limits[corev1.ResourceMemory]; ok {
			// The API server defaults a missing request to the limit.
			req += q.Value()
			anyReq = true
		}
		if q, ok := r.Limits[corev1.ResourceMemory]; ok {
			lim += q.Value()
		} else {
			unbounded = true
		}
	}
	var initMax int64
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		q, ok := c.Resources.Requests[corev1.ResourceMemory]
		if !ok {
			continue
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			req += q.Value()
		} else if q.Value() > initMax {
			initMax = q.Value()
		}
		anyReq = true
	}
	req = max(req, initMax)
	if anyReq {
		request = &req
	}
	if !unbounded && len(spec.Containers) > 0 {
		limit = &lim
	}
	return request, limit
}

// qosClass derives the QoS class for pods whose status does not carry one,
// following the kubelet's rules for CPU and memory.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	guaranteed, any := true, false
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range all {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

package kube

import (
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Slim is the informers' transform: it keeps only the fields nodewatch reads,
// so 150,000 cached pods cost a fraction of their full size. What is kept
// here is what NodeFrom, PodFrom and the detection rules read; add a field
// here before reading it elsewhere.
func Slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return slimPod(o), nil
	case *corev1.Node:
		return slimNode(o), nil
	case *coordinationv1.Lease:
		return &coordinationv1.Lease{ObjectMeta: slimMeta(&o.ObjectMeta, false), Spec: coordinationv1.LeaseSpec{
			RenewTime: o.Spec.RenewTime, LeaseDurationSeconds: o.Spec.LeaseDurationSeconds,
		}}, nil
	case *corev1.Event:
		return &corev1.Event{ObjectMeta: slimMeta(&o.ObjectMeta, false), InvolvedObject: corev1.ObjectReference{
			Kind: o.InvolvedObject.Kind, Namespace: o.InvolvedObject.Namespace, Name: o.InvolvedObject.Name,
		}, Reason: o.Reason, Message: o.Message, Type: o.Type, Count: o.Count,
			FirstTimestamp: o.FirstTimestamp, LastTimestamp: o.LastTimestamp, EventTime: o.EventTime}, nil
	case *appsv1.ReplicaSet:
		return &appsv1.ReplicaSet{ObjectMeta: slimMeta(&o.ObjectMeta, false)}, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: slimMeta(&o.ObjectMeta, false),
			Spec:   appsv1.DeploymentSpec{Replicas: o.Spec.Replicas},
			Status: appsv1.DeploymentStatus{Replicas: o.Status.Replicas, AvailableReplicas: o.Status.AvailableReplicas, ObservedGeneration: o.Status.ObservedGeneration}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: slimMeta(&o.ObjectMeta, false),
			Spec:   appsv1.StatefulSetSpec{Replicas: o.Spec.Replicas},
			Status: appsv1.StatefulSetStatus{Replicas: o.Status.Replicas, AvailableReplicas: o.Status.AvailableReplicas}}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: slimMeta(&o.ObjectMeta, false),
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: o.Status.DesiredNumberScheduled, NumberAvailable: o.Status.NumberAvailable}}, nil
	case *corev1.ReplicationController:
		return &corev1.ReplicationController{ObjectMeta: slimMeta(&o.ObjectMeta, false),
			Spec:   corev1.ReplicationControllerSpec{Replicas: o.Spec.Replicas},
			Status: corev1.ReplicationControllerStatus{Replicas: o.Status.Replicas, AvailableReplicas: o.Status.AvailableReplicas}}, nil
	case cache.DeletedFinalStateUnknown:
		return o, nil
	}
	return obj, nil
}

func slimMeta(m *metav1.ObjectMeta, keepLabels bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		OwnerReferences: m.OwnerReferences,
	}
	if keepLabels {
		if h, ok := m.Labels["pod-template-hash"]; ok {
			out.Labels = map[string]string{"pod-template-hash": h}
		}
	}
	return out
}

func slimPod(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: slimMeta(&p.ObjectMeta, true)}
	out.Spec.NodeName = p.Spec.NodeName
	out.Spec.Containers = slimContainers(p.Spec.Containers)
	out.Spec.InitContainers = slimContainers(p.Spec.InitContainers)
	out.Status = corev1.PodStatus{
		Phase: p.Status.Phase, QOSClass: p.Status.QOSClass, Reason: p.Status.Reason, Message: p.Status.Message,
		Conditions: p.Status.Conditions, ContainerStatuses: p.Status.ContainerStatuses,
	}
	for i := range out.Status.ContainerStatuses {
		cs := &out.Status.ContainerStatuses[i]
		cs.Image, cs.ImageID, cs.ContainerID = "", "", ""
		cs.VolumeMounts, cs.AllocatedResources, cs.Resources, cs.User = nil, nil, nil, nil
	}
	return out
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
	}
	return out
}

func slimNode(n *corev1.Node) *corev1.Node {
	out := &corev1.Node{ObjectMeta: slimMeta(&n.ObjectMeta, false)}
	if p, ok := n.Annotations["metrics.k8s.io/resource-metrics-path"]; ok {
		out.Annotations = map[string]string{"metrics.k8s.io/resource-metrics-path": p}
	}
	out.Spec.Unschedulable = n.Spec.Unschedulable
	out.Spec.Taints = n.Spec.Taints
	out.Status = corev1.NodeStatus{
		Conditions: n.Status.Conditions, Allocatable: n.Status.Allocatable, Capacity: n.Status.Capacity,
		Addresses: n.Status.Addresses, DaemonEndpoints: n.Status.DaemonEndpoints,
	}
	return out
}

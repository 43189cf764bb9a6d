package kube

import (
	"github.com/nodewatch/nodewatch/internal/cluster"

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
		return newPodEntry(o), nil
	case *corev1.Node:
		return slimNode(o), nil
	case *coordinationv1.Lease:
		return &coordinationv1.Lease{ObjectMeta: slimMeta(&o.ObjectMeta), Spec: coordinationv1.LeaseSpec{
			RenewTime: o.Spec.RenewTime, LeaseDurationSeconds: o.Spec.LeaseDurationSeconds,
		}}, nil
	case *appsv1.ReplicaSet:
		return &appsv1.ReplicaSet{ObjectMeta: slimMeta(&o.ObjectMeta)}, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: slimMeta(&o.ObjectMeta),
			Spec:   appsv1.DeploymentSpec{Replicas: o.Spec.Replicas},
			Status: appsv1.DeploymentStatus{Replicas: o.Status.Replicas, AvailableReplicas: o.Status.AvailableReplicas, ObservedGeneration: o.Status.ObservedGeneration}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: slimMeta(&o.ObjectMeta),
			Spec:   appsv1.StatefulSetSpec{Replicas: o.Spec.Replicas},
			Status: appsv1.StatefulSetStatus{Replicas: o.Status.Replicas, AvailableReplicas: o.Status.AvailableReplicas}}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: slimMeta(&o.ObjectMeta),
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: o.Status.DesiredNumberScheduled, NumberAvailable: o.Status.NumberAvailable}}, nil
	case *corev1.ReplicationController:
		return &corev1.ReplicationController{ObjectMeta: slimMeta(&o.ObjectMeta),
			Spec:   corev1.ReplicationControllerSpec{Replicas: o.Spec.Replicas},
			Status: corev1.ReplicationControllerStatus{Replicas: o.Status.Replicas, AvailableReplicas: o.Status.AvailableReplicas}}, nil
	case cache.DeletedFinalStateUnknown:
		return o, nil
	}
	return obj, nil
}

func slimMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		OwnerReferences: m.OwnerReferences,
	}
}

// podEntry is what the pod informer stores: the slim model, converted once
// as the pod arrives, and the little metadata the store keys on. It is a
// fraction of a *corev1.Pod (see BENCHMARKS.md): 30,000 pods must fit in a
// small daemon.
type podEntry struct {
	meta metav1.ObjectMeta
	pod  cluster.Pod
}

func newPodEntry(p *corev1.Pod) *podEntry {
	return &podEntry{
		meta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion},
		pod:  cluster.PodFrom(p),
	}
}

// GetObjectMeta lets client-go's store key the entry (meta.Accessor).
func (e *podEntry) GetObjectMeta() metav1.Object { return &e.meta }

func slimNode(n *corev1.Node) *corev1.Node {
	out := &corev1.Node{ObjectMeta: slimMeta(&n.ObjectMeta)}
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

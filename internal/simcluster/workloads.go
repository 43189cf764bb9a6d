package simcluster

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Workload describes the pods of a Deployment or ReplicationController.
type Workload struct {
	Namespace, Name string
	Replicas        int32
	// MemoryRequest and MemoryLimit are quantities; empty means none.
	MemoryRequest, MemoryLimit string
	Annotations                map[string]string
}

// PodTemplate returns the pod template for w; its pods carry app=<name>.
func (w Workload) PodTemplate() corev1.PodTemplateSpec {
	res := corev1.ResourceRequirements{}
	if w.MemoryRequest != "" {
		res.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(w.MemoryRequest)}
	}
	if w.MemoryLimit != "" {
		res.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(w.MemoryLimit)}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": w.Name}, Annotations: w.Annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: w.Name, Image: "registry.example/" + w.Name + ":1", Resources: res,
		}}},
	}
}

// EnsureNamespace creates a namespace if it does not exist.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// CreateDeployment creates a Deployment for w.
func (c *Cluster) CreateDeployment(ctx context.Context, w Workload) error {
	if err := c.EnsureNamespace(ctx, w.Namespace); err != nil {
		return err
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &w.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.Name}},
			Template: w.PodTemplate(),
		},
	}
	_, err := c.Client.AppsV1().Deployments(w.Namespace).Create(ctx, d, metav1.CreateOptions{})
	return err
}

// CreateReplicationController creates a ReplicationController for w — the
// controller the story's team used.
func (c *Cluster) CreateReplicationController(ctx context.Context, w Workload) error {
	if err := c.EnsureNamespace(ctx, w.Namespace); err != nil {
		return err
	}
	tmpl := w.PodTemplate()
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &w.Replicas,
			Selector: map[string]string{"app": w.Name},
			Template: &tmpl,
		},
	}
	_, err := c.Client.CoreV1().ReplicationControllers(w.Namespace).Create(ctx, rc, metav1.CreateOptions{})
	return err
}

// WaitPodsRunning waits until n pods of w are Running on a node.
func (c *Cluster) WaitPodsRunning(ctx context.Context, w Workload, n int) error {
	sel := labels.SelectorFromSet(labels.Set{"app": w.Name}).String()
	return c.Wait(ctx, fmt.Sprintf("%d pods of %s/%s Running", n, w.Namespace, w.Name), func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
				running++
			}
		}
		return running == n, nil
	})
}

// PodsOnNode returns namespace/name of the pods bound to node.
func (c *Cluster) PodsOnNode(ctx context.Context, node string) ([]string, error) {
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out, nil
}

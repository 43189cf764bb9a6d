package kube

import (
	"context"
	"fmt"
	"github.com/nodewatch/nodewatch/internal/cluster"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
)

// Access says how to reach a cluster, kubectl style.
type Access struct {
	Kubeconfig string // path; empty means $KUBECONFIG, ~/.kube/config, then in-cluster
	Context    string
}

// RESTConfig loads the client configuration.
func (a Access) RESTConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if a.Kubeconfig != "" {
		rules.ExplicitPath = a.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: a.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.UserAgent = "nodewatch"
	return cfg, nil
}

// Client returns a clientset for the cluster.
func (a Access) Client() (kubernetes.Interface, error) {
	cfg, err := a.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return kubernetes.NewForConfig(cfg)
}

// List reads nodes, pods (of namespace, or all when empty) and the
// ReplicaSets and Jobs needed to name pods' workloads, page by page so a
// large cluster is never held whole as API objects. Being denied ReplicaSets
// or Jobs is not an error: owners then fall back to naming conventions.
func List(ctx context.Context, c kubernetes.Interface, namespace string) (*cluster.Snapshot, error) {
	s := cluster.NewSnapshot()
	each := func(what string, list pager.ListPageFunc, fn func(runtime.Object) error) error {
		p := pager.New(list)
		p.PageSize = 500
		if err := p.EachListItem(ctx, metav1.ListOptions{}, fn); err != nil {
			return fmt.Errorf("listing %s: %w", what, err)
		}
		return nil
	}
	err := each("nodes", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Nodes().List(ctx, o)
	}, func(o runtime.Object) error {
		s.Nodes = append(s.Nodes, cluster.NodeFrom(o.(*corev1.Node)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each("pods", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Pods(namespace).List(ctx, o)
	}, func(o runtime.Object) error {
		s.Pods = append(s.Pods, cluster.PodFrom(o.(*corev1.Pod)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	owned := func(o runtime.Object) error {
		m, err := metaOf(o)
		if err != nil {
			return err
		}
		s.Owners.Add(kindOf(o), m.GetNamespace(), m.GetName(), cluster.ControllerOf(m.GetOwnerReferences()))
		return nil
	}
	err = each("replicasets", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		o.ResourceVersion = "0" // owners change rarely; the watch cache is fine
		return c.AppsV1().ReplicaSets(namespace).List(ctx, o)
	}, owned)
	if err != nil && !apierrors.IsForbidden(unwrapAll(err)) {
		return nil, err
	}
	err = each("jobs", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		o.ResourceVersion = "0"
		return c.BatchV1().Jobs(namespace).List(ctx, o)
	}, owned)
	if err != nil && !apierrors.IsForbidden(unwrapAll(err)) {
		return nil, err
	}
	return s, nil
}

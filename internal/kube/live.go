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
	return ListWith(ctx, c, namespace, Hooks{})
}

// Hooks see each node and pod List converts, for a command that reads a
// field the model does not keep (rebalance: taints, labels, selectors)
// without listing twice.
type Hooks struct {
	Node func(*corev1.Node)
	Pod  func(*corev1.Pod)
}

// ListWith is List calling h on every node and pod.
func ListWith(ctx context.Context, c kubernetes.Interface, namespace string, h Hooks) (*cluster.Snapshot, error) {
	s := cluster.NewSnapshot()
	each := func(what string, list pager.ListPageFunc, fn func(runtime.Object) error) error {
		return eachItem(ctx, what, list, fn)
	}
	err := each("nodes", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Nodes().List(ctx, o)
	}, func(o runtime.Object) error {
		n := o.(*corev1.Node)
		s.Nodes = append(s.Nodes, cluster.NodeFrom(n))
		if h.Node != nil {
			h.Node(n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each("pods", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Pods(namespace).List(ctx, o)
	}, func(o runtime.Object) error {
		p := o.(*corev1.Pod)
		s.Pods = append(s.Pods, cluster.PodFrom(p))
		if h.Pod != nil {
			h.Pod(p)
		}
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

// eachItem lists page by page, calling fn for every item.
func eachItem(ctx context.Context, what string, list pager.ListPageFunc, fn func(runtime.Object) error) error {
	p := pager.New(list)
	p.PageSize = 500
	if err := p.EachListItem(ctx, metav1.ListOptions{}, fn); err != nil {
		return fmt.Errorf("listing %s: %w", what, err)
	}
	return nil
}

// ListPolicies adds to s the namespaces (all, or just namespace when given),
// LimitRanges and ResourceQuotas that `audit` weighs. Being denied any of
// them is not an error: s.Listed then says it was not read, and the audit
// says which checks it skipped.
func ListPolicies(ctx context.Context, c kubernetes.Interface, namespace string, s *cluster.Snapshot) error {
	optional := func(err error) (listed bool, _ error) {
		if err == nil {
			return true, nil
		}
		if apierrors.IsForbidden(unwrapAll(err)) {
			return false, nil
		}
		return false, err
	}
	var err error
	if namespace != "" {
		ns, gerr := c.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		switch {
		case gerr == nil:
			s.Namespaces = append(s.Namespaces, cluster.NamespaceFrom(ns))
			s.Listed.Namespaces = true
		case apierrors.IsNotFound(gerr):
			s.Listed.Namespaces = true // read, and there is none
		case !apierrors.IsForbidden(gerr):
			return fmt.Errorf("reading namespace %s: %w", namespace, gerr)
		}
	} else {
		err = eachItem(ctx, "namespaces", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.CoreV1().Namespaces().List(ctx, o)
		}, func(o runtime.Object) error {
			s.Namespaces = append(s.Namespaces, cluster.NamespaceFrom(o.(*corev1.Namespace)))
			return nil
		})
		if s.Listed.Namespaces, err = optional(err); err != nil {
			return err
		}
	}
	err = eachItem(ctx, "limitranges", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().LimitRanges(namespace).List(ctx, o)
	}, func(o runtime.Object) error {
		s.LimitRanges = append(s.LimitRanges, cluster.LimitRangeFrom(o.(*corev1.LimitRange)))
		return nil
	})
	if s.Listed.LimitRanges, err = optional(err); err != nil {
		return err
	}
	err = eachItem(ctx, "resourcequotas", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().ResourceQuotas(namespace).List(ctx, o)
	}, func(o runtime.Object) error {
		s.Quotas = append(s.Quotas, cluster.ResourceQuotaFrom(o.(*corev1.ResourceQuota)))
		return nil
	})
	if s.Listed.ResourceQuotas, err = optional(err); err != nil {
		return err
	}
	return nil
}

package kube

import (
	"context"
	"fmt"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// NodeLeaseNamespace holds the kubelets' heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

const byNodeIndex = "spec.nodeName"

// Cache watches the cluster with shared informers — watch, not polling;
// expired watches (410 Gone) and API server restarts are handled by the
// reflectors' relist — and keeps slim copies of the objects (see Slim).
type Cache struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	leases  informers.SharedInformerFactory

	nodes, pods, leaseInf, rs, jobs, deploys, sts, ds, rcs cache.SharedIndexInformer
	events                                                 *eventStream
	eventRefl                                              *cache.Reflector

	// lastEvent is the Unix nanoseconds of the newest informer event, for
	// the informer-lag metric.
	lastEvent atomic.Int64
}

// NewCache sets up the informers; Start runs them. onNode, if set, is
// called (from an informer goroutine; keep it short) whenever a node or its
// Lease changes, so detection can run at once instead of on the next tick.
//
// onEvent, if set, receives every Kubernetes event about a node or a pod, to
// be kept past the API server's one-hour TTL.
func NewCache(client kubernetes.Interface, onNode func(name string), onEvent func(*corev1.Event)) *Cache {
	c := &Cache{client: client}
	c.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(Slim))
	c.leases = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(Slim),
		informers.WithNamespace(NodeLeaseNamespace))
	c.nodes = c.factory.Core().V1().Nodes().Informer()
	c.pods = c.factory.Core().V1().Pods().Informer()
	c.rs = c.factory.Apps().V1().ReplicaSets().Informer()
	c.jobs = c.factory.Batch().V1().Jobs().Informer()
	c.deploys = c.factory.Apps().V1().Deployments().Informer()
	c.sts = c.factory.Apps().V1().StatefulSets().Informer()
	c.ds = c.factory.Apps().V1().DaemonSets().Informer()
	c.rcs = c.factory.Core().V1().ReplicationControllers().Informer()
	c.leaseInf = c.leases.Coordination().V1().Leases().Informer()
	_ = c.pods.AddIndexers(cache.Indexers{byNodeIndex: func(obj any) ([]string, error) {
		if e, ok := obj.(*podEntry); ok && e.pod.NodeName != "" {
			return []string{e.pod.NodeName}, nil
		}
		return nil, nil
	}})
	touch := func(any) { c.lastEvent.Store(time.Now().UnixNano()) }
	nodeHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { touch(obj); notifyName(onNode, obj) },
		UpdateFunc: func(_, obj any) { touch(obj); notifyName(onNode, obj) },
		DeleteFunc: func(obj any) { touch(obj); notifyName(onNode, obj) },
	}
	_, _ = c.nodes.AddEventHandler(nodeHandler)
	_, _ = c.leaseInf.AddEventHandler(nodeHandler)
	other := cache.ResourceEventHandlerFuncs{AddFunc: touch, UpdateFunc: func(_, o any) { touch(o) }, DeleteFunc: touch}
	c.events = &eventStream{fn: onEvent, touch: func() { touch(nil) }}
	c.eventRefl = newEventReflector(client, c.events)
	for _, inf := range []cache.SharedIndexInformer{c.pods, c.deploys, c.sts, c.ds, c.rcs} {
		_, _ = inf.AddEventHandler(other)
	}
	return c
}

// notifyName calls fn with the name of a node or node Lease (they share it).
func notifyName(fn func(string), obj any) {
	if fn == nil {
		return
	}
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, err := meta.Accessor(obj); err == nil {
		fn(m.GetName())
	}
}

// Start runs the informers until ctx ends.
func (c *Cache) Start(ctx context.Context) {
	c.factory.Start(ctx.Done())
	c.leases.Start(ctx.Done())
	go c.eventRefl.RunWithContext(ctx)
}

// WaitForSync waits for the first list of every informer.
func (c *Cache) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.nodes.HasSynced, c.pods.HasSynced, c.leaseInf.HasSynced,
		c.events.synced.Load, c.rs.HasSynced, c.jobs.HasSynced, c.deploys.HasSynced, c.sts.HasSynced,
		c.ds.HasSynced, c.rcs.HasSynced) {
		return fmt.Errorf("informer caches did not sync: %w", ctx.Err())
	}
	return nil
}

// Synced reports whether every informer has listed once.
func (c *Cache) Synced() bool {
	for _, inf := range []cache.SharedIndexInformer{c.nodes, c.pods, c.leaseInf, c.rs, c.jobs, c.deploys, c.sts, c.ds, c.rcs} {
		if !inf.HasSynced() {
			return false
		}
	}
	return c.events.synced.Load()
}

// LastEvent is when the newest informer event arrived (zero before any).
func (c *Cache) LastEvent() time.Time {
	n := c.lastEvent.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Nodes returns the cached nodes.
func (c *Cache) Nodes() []*corev1.Node {
	return typed[*corev1.Node](c.nodes.GetStore().List())
}

// Node returns one cached node.
func (c *Cache) Node(name string) (*corev1.Node, bool) {
	obj, ok, _ := c.nodes.GetStore().GetByKey(name)
	if !ok {
		return nil, false
	}
	n, ok := obj.(*corev1.Node)
	return n, ok
}

// Lease returns the node's heartbeat Lease.
func (c *Cache) Lease(node string) (*coordinationv1.Lease, bool) {
	obj, ok, _ := c.leaseInf.GetStore().GetByKey(NodeLeaseNamespace + "/" + node)
	if !ok {
		return nil, false
	}
	l, ok := obj.(*coordinationv1.Lease)
	return l, ok
}

// PodsOn returns the pods bound to a node.
func (c *Cache) PodsOn(node string) []*cluster.Pod {
	objs, _ := c.pods.GetIndexer().ByIndex(byNodeIndex, node)
	return pods(objs)
}

// Pod returns one cached pod.
func (c *Cache) Pod(namespace, name string) (*cluster.Pod, bool) {
	obj, ok, _ := c.pods.GetStore().GetByKey(namespace + "/" + name)
	if !ok {
		return nil, false
	}
	e, ok := obj.(*podEntry)
	if !ok {
		return nil, false
	}
	return &e.pod, true
}

// Pods returns every cached pod. The pods are the cache's own: read them,
// never change them.
func (c *Cache) Pods() []*cluster.Pod { return pods(c.pods.GetStore().List()) }

func pods(objs []any) []*cluster.Pod {
	out := make([]*cluster.Pod, 0, len(objs))
	for _, o := range objs {
		if e, ok := o.(*podEntry); ok {
			out = append(out, &e.pod)
		}
	}
	return out
}

// Owners returns the ReplicaSet and Job ownership for Owners.Resolve.
func (c *Cache) Owners() cluster.Owners {
	o := cluster.Owners{}
	for _, pair := range []struct {
		kind string
		inf  cache.SharedIndexInformer
	}{{"ReplicaSet", c.rs}, {"Job", c.jobs}} {
		for _, obj := range pair.inf.GetStore().List() {
			if m, err := meta.Accessor(obj); err == nil {
				o.Add(pair.kind, m.GetNamespace(), m.GetName(), cluster.ControllerOf(m.GetOwnerReferences()))
			}
		}
	}
	return o
}

// Workloads lists Deployments, StatefulSets, DaemonSets and
// ReplicationControllers with their replica counts.
func (c *Cache) Workloads() []cluster.Workload {
	var out []cluster.Workload
	add := func(m metav1.Object, kind string, desired *int32, available int32) {
		d := int32(1)
		if desired != nil {
			d = *desired
		}
		out = append(out, cluster.Workload{Namespace: m.GetNamespace(), Kind: kind, Name: m.GetName(), Desired: d, Available: available,
			Created: m.GetCreationTimestamp().Time})
	}
	for _, d := range typed[*appsv1.Deployment](c.deploys.GetStore().List()) {
		add(d, "Deployment", d.Spec.Replicas, d.Status.AvailableReplicas)
	}
	for _, s := range typed[*appsv1.StatefulSet](c.sts.GetStore().List()) {
		add(s, "StatefulSet", s.Spec.Replicas, s.Status.AvailableReplicas)
	}
	for _, d := range typed[*appsv1.DaemonSet](c.ds.GetStore().List()) {
		desired := d.Status.DesiredNumberScheduled
		add(d, "DaemonSet", &desired, d.Status.NumberAvailable)
	}
	for _, r := range typed[*corev1.ReplicationController](c.rcs.GetStore().List()) {
		add(r, "ReplicationController", r.Spec.Replicas, r.Status.AvailableReplicas)
	}
	return out
}

// Client is the clientset the cache watches with.
func (c *Cache) Client() kubernetes.Interface { return c.client }

func typed[T any](objs []any) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

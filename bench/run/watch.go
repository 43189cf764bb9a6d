package main

import (
	"context"
	"errors"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// ---- the harness's own watch ----

// watcher times what the harness's own informers see: each node's newest
// Lease renewTime, and when a failed node's Ready condition left True.
type watcher struct {
	mu      sync.Mutex
	renew   map[string]time.Time
	down    map[string]seen
	armed   map[string]bool
	ready   map[string]string
	renewed chan string
}

type seen struct {
	At, LTT time.Time
	Status  string
}

func watch(ctx context.Context, client kubernetes.Interface) (*watcher, error) {
	w := &watcher{renew: map[string]time.Time{}, down: map[string]seen{}, armed: map[string]bool{},
		ready: map[string]string{}, renewed: make(chan string, 4096)}
	f := informers.NewSharedInformerFactory(client, 0)
	nodes := f.Core().V1().Nodes().Informer()
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.node(time.Now(), o) },
		UpdateFunc: func(_, o any) { w.node(time.Now(), o) },
	})
	lf := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("kube-node-lease"))
	leases := lf.Coordination().V1().Leases().Informer()
	_, _ = leases.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.lease,
		UpdateFunc: func(_, o any) { w.lease(o) },
	})
	f.Start(ctx.Done())
	lf.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodes.HasSynced, leases.HasSynced) {
		return nil, errors.New("the harness's informers did not sync")
	}
	return w, nil
}

func (w *watcher) node(now time.Time, o any) {
	n, ok := o.(*corev1.Node)
	if !ok {
		return
	}
	status, ltt := "", time.Time{}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status, ltt = string(c.Status), c.LastTransitionTime.Time
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready[n.Name] = status
	if _, done := w.down[n.Name]; w.armed[n.Name] && !done && status != "" && status != "True" {
		w.down[n.Name] = seen{At: now, LTT: ltt, Status: status}
	}
}

func (w *watcher) lease(o any) {
	l, ok := o.(*coordinationv1.Lease)
	if !ok || l.Spec.RenewTime == nil {
		return
	}
	w.mu.Lock()
	newer := l.Spec.RenewTime.After(w.renew[l.Name])
	if newer {
		w.renew[l.Name] = l.Spec.RenewTime.Time
	}
	w.mu.Unlock()
	if newer {
		select {
		case w.renewed <- l.Name:
		default:
		}
	}
}

func (w *watcher) arm(node string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed[node] = on
	if on {
		delete(w.down, node)
	}
}

func (w *watcher) state(node string) (renew time.Time, down seen, ready string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.renew[node], w.down[node], w.ready[node]
}

// failNext fails, right after its Lease renewal, the next eligible node to
// renew: its Ready=Unknown then comes a predictable grace period later.
func (w *watcher) failNext(ctx context.Context, c *simcluster.Cluster, eligible func(string) bool) (string, time.Time, error) {
	for len(w.renewed) > 0 {
		<-w.renewed
	}
	for {
		select {
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		case n := <-w.renewed:
			if _, _, ready := w.state(n); !eligible(n) || ready != "True" {
				continue
			}
			w.arm(n, true)
			at := time.Now()
			return n, at, c.FailNode(ctx, n)
		}
	}
}

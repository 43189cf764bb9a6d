package demo

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// The harness plays what the story's kernel did: when a node's pods need
// more memory than it has, the node thrashes (its major page faults climb,
// as the EBS graphs and Heapster showed), then its kubelet stops
// answering. After a while the node comes back (the team replaced it).
const (
	harnessTick = 2 * time.Second
	// thrashFor is how long a node thrashes before it stops answering:
	// long enough for a few scrapes of the climbing page-fault counter.
	thrashFor = 12 * time.Second
	// faultsPerTick is how much the node's major-page-fault counter climbs
	// every tick while it thrashes (from none: 10,000 a second).
	faultsPerTick = 20000
	// downFor is how long a failed node stays down: past the node lifecycle
	// controller's grace period and the pods' eviction.
	downFor = 75 * time.Second
)

type phase int

const (
	healthy phase = iota
	thrashing
	failed
)

type nodeState struct {
	phase  phase
	since  time.Time
	faults int64
}

// harness watches the simulated memory on each node and fails the nodes
// that run out.
type harness struct {
	c     *simcluster.Cluster
	p     *printer
	b     *board
	nodes map[string]*nodeState
}

func newHarness(c *simcluster.Cluster, p *printer, b *board) *harness {
	return &harness{c: c, p: p, b: b, nodes: map[string]*nodeState{}}
}

// run steps until ctx ends.
func (h *harness) run(ctx context.Context) {
	t := time.NewTicker(harnessTick)
	defer t.Stop()
	for {
		if err := h.step(ctx, time.Now()); err != nil && ctx.Err() == nil {
			h.p.event("harness: %v (trying again)", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step moves every node one tick along: healthy → thrashing when its pods
// need more memory than it has → failed after thrashFor → healthy after
// downFor.
func (h *harness) step(ctx context.Context, now time.Time) error {
	nodes, err := h.c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := h.c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	need := nodeNeeds(pods.Items, now)
	slices.SortFunc(nodes.Items, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range nodes.Items {
		st := h.nodes[n.Name]
		if st == nil {
			st = &nodeState{}
			if v, err := strconv.ParseInt(n.Annotations[simcluster.AnnotationPgMajFault], 10, 64); err == nil {
				st.faults = v
			}
			h.nodes[n.Name] = st
		}
		switch st.phase {
		case healthy:
			have := n.Status.Allocatable.Memory().Value()
			if have == 0 || need[n.Name] <= have {
				continue
			}
			h.p.event("harness: %s's pods need %s of its %s: it thrashes (major page faults climb)", n.Name, gib(need[n.Name]), gib(have))
			st.phase, st.since = thrashing, now
			h.b.update(func() { h.b.thrashing[n.Name] = true })
			fallthrough
		case thrashing:
			st.faults += faultsPerTick
			if err := h.setFaults(ctx, n.Name, st.faults); err != nil {
				return err
			}
			if now.Sub(st.since) < thrashFor {
				continue
			}
			if err := h.c.FailNode(ctx, n.Name); err != nil {
				return err
			}
			h.p.event("harness: %s stops answering: its kubelet no longer heartbeats (the story's NotReady node)", n.Name)
			st.phase, st.since = failed, now
			h.b.update(func() {
				delete(h.b.thrashing, n.Name)
				h.b.failed[n.Name] = now
			})
		case failed:
			if now.Sub(st.since) < downFor {
				continue
			}
			if err := h.c.RecoverNode(ctx, n.Name); err != nil {
				return err
			}
			h.p.event("harness: %s is back (as when the team replaced the instance); its evicted pods run elsewhere", n.Name)
			st.phase, st.since = healthy, now
			h.b.update(func() { h.b.recovered[n.Name] = now })
		}
	}
	return nil
}

func (h *harness) setFaults(ctx context.Context, node string, v int64) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, simcluster.AnnotationPgMajFault, v)
	_, err := h.c.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// nodeNeeds sums the simulated memory of the pods on each node: pods that
// run, not those finished or being deleted.
func nodeNeeds(pods []corev1.Pod, now time.Time) map[string]int64 {
	out := map[string]int64{}
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out[p.Spec.NodeName] += simulatedMemory(p, now)
	}
	return out
}

// simulatedMemory is the working set kwok reports for p's containers at
// now: the CEL expression of simcluster's usage manifest (usage.go), in Go.
// The leak grows with the pod's age, so a pod recreated elsewhere starts
// small again; a warm-up grows the same way until its end, then holds.
func simulatedMemory(p *corev1.Pod, now time.Time) int64 {
	a := p.Annotations
	base := quantity(a[simcluster.AnnotationMemory], 1<<20)
	age := now.Sub(p.CreationTimestamp.Time).Seconds()
	per := float64(base)
	if leak, ok := a[simcluster.AnnotationLeak]; ok {
		rate, _ := strconv.ParseFloat(leak, 64)
		grows := age
		if w, err := strconv.ParseFloat(a[simcluster.AnnotationWarmup], 64); err == nil && age > w {
			grows = w // warmed up: a plateau
		}
		per += (1 << 20) * (grows / 60) * rate
	} else if spike, ok := a[simcluster.AnnotationSpike]; ok && int(age)%90 < 15 {
		per = float64(quantity(spike, base))
	}
	return int64(per) * int64(len(p.Spec.Containers))
}

func quantity(s string, def int64) int64 {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return def
	}
	return q.Value()
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

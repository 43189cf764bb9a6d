// Package dumpgen writes synthetic `kubectl get nodes,pods -A -o json`
// output for benchmarks: a v1 List of N nodes then M pods, indented as
// kubectl prints it (4 spaces, keys sorted), deterministic for a seed.
//
// The objects look like a real cluster's, so that decoding them costs what
// decoding a real dump costs: pods of about 5 KB with labels, annotations (a
// kubectl last-applied-configuration among them), owner references to
// ReplicaSets (with pod-template-hash), StatefulSets, DaemonSets, Jobs and
// ReplicationControllers, containers with images, env, probes, resources and
// volume mounts, tolerations and volumes, and a status with conditions,
// container statuses, IPs, QoS class and start time; nodes with labels,
// taints, conditions, addresses, capacity, allocatable, an images list and
// nodeInfo. About 2% of the nodes have stopped reporting (Ready=Unknown,
// NodeStatusUnknown), a few are cordoned, and a few pods cannot be scheduled.
//
// Write returns Stats, what a correct health check must find in the dump.
package dumpgen

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"
)

// Config sizes a dump.
type Config struct {
	Nodes int
	Pods  int
	Seed  uint64
	// Now is when the dump is taken; zero means DefaultNow.
	Now time.Time
}

// DefaultNow is the moment generated dumps are taken by default.
var DefaultNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// Stats is what was written, and what a health check must find in it.
type Stats struct {
	Nodes int
	Pods  int
	// NotReadyNodes stopped reporting: Ready=Unknown, NodeStatusUnknown.
	NotReadyNodes int
	// PodsOnNotReady are the non-terminated pods bound to those nodes.
	PodsOnNotReady int
	// CordonedNodes are Ready but marked unschedulable.
	CordonedNodes int
	// Unschedulable pods are Pending with PodScheduled=False, Unschedulable.
	Unschedulable int
	Bytes         int64
}

// Write writes the dump to w.
func Write(w io.Writer, c Config) (Stats, error) {
	if c.Nodes < 1 || c.Pods < 0 {
		return Stats{}, errors.New("dumpgen: want at least 1 node and no negative pod count")
	}
	if c.Now.IsZero() {
		c.Now = DefaultNow
	}
	cw := &countingWriter{w: w}
	g := &gen{
		c:   c,
		rng: rand.New(rand.NewPCG(c.Seed, 0x6e6f646577617463)), //nolint:gosec // G404: synthetic dumps, reproducible from -seed ("nodewatc")
		w:   bufio.NewWriterSize(cw, 1<<20),
	}
	g.planNodes()
	g.planPods()

	g.raw("{\n    \"apiVersion\": \"v1\",\n    \"items\": [")
	first := true
	for i := range g.nodes {
		g.item(g.node(&g.nodes[i]), &first)
	}
	for i := range g.pods {
		g.item(g.pod(&g.pods[i]), &first)
	}
	g.raw("\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")
	if g.err == nil {
		g.err = g.w.Flush()
	}
	g.stats.Nodes, g.stats.Pods, g.stats.Bytes = len(g.nodes), len(g.pods), cw.n
	return g.stats, g.err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// obj and arr build the objects; encoding/json sorts map keys, as kubectl's
// printer does for the unstructured objects `kubectl get` prints.
type (
	obj = map[string]any
	arr = []any
)

type gen struct {
	c     Config
	rng   *rand.Rand
	w     *bufio.Writer
	err   error
	nodes []node
	pods  []pod
	stats Stats
}

func (g *gen) raw(s string) {
	if g.err == nil {
		_, g.err = g.w.WriteString(s)
	}
}

// item writes one element of items, indented as kubectl does at that depth.
func (g *gen) item(o obj, first *bool) {
	if g.err != nil {
		return
	}
	b, err := json.MarshalIndent(o, "        ", "    ")
	if err != nil {
		g.err = err
		return
	}
	if *first {
		g.raw("\n        ")
		*first = false
	} else {
		g.raw(",\n        ")
	}
	if g.err == nil {
		_, g.err = g.w.Write(b)
	}
}

// Random pieces.

const kubeAlphabet = "bcdfghjklmnpqrstvwxz2456789" // k8s.io/apimachinery/pkg/util/rand

func (g *gen) suffix(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = kubeAlphabet[g.rng.IntN(len(kubeAlphabet))]
	}
	return string(b)
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *gen) uid() string {
	h := g.hex(32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

func (g *gen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// ago is a time between lo and hi before now.
func (g *gen) ago(lo, hi time.Duration) time.Time {
	return g.c.Now.Add(-lo - time.Duration(g.rng.Int64N(int64(hi-lo)+1)))
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (g *gen) resourceVersion() string { return fmt.Sprint(100000000 + g.rng.IntN(900000000)) }

// sortPods orders pods as the API server lists them: by namespace, name.
func sortPods(p []pod) {
	slices.SortFunc(p, func(a, b pod) int {
		return cmp.Or(cmp.Compare(a.w.namespace, b.w.namespace), cmp.Compare(a.name, b.name))
	})
}

package detect

import (
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
)

// NodeSource is what the node rules read.
type NodeSource interface {
	Nodes() []*corev1.Node
	Node(name string) (*corev1.Node, bool)
	Lease(node string) (*coordinationv1.Lease, bool)
}

// Nodes evaluates the node rules. It is not safe for concurrent use: the
// daemon calls it from one goroutine.
type Nodes struct {
	rules Rules
	src   NodeSource
	// seen is the last Ready status of each node, for transitions.
	seen map[string]string
	// transitions are the recent Ready transitions of each node.
	transitions map[string][]time.Time
}

// NewNodes returns the node rules over src.
func NewNodes(rules Rules, src NodeSource) *Nodes {
	return &Nodes{rules: rules, src: src, seen: map[string]string{}, transitions: map[string][]time.Time{}}
}

// DownKey is the incident key of a node's failure (early warning and NotReady).
func DownKey(node string) string { return NodeScope(node) + "down" }

// Evaluate returns the node findings that hold at now, for every node.
func (d *Nodes) Evaluate(now time.Time) []Finding {
	var out []Finding
	present := map[string]bool{}
	for _, n := range d.src.Nodes() {
		present[n.Name] = true
		out = d.evaluate(out, n, now)
	}
	for name := range d.seen {
		if !present[name] {
			out = append(out, d.deleted(name, now))
		}
	}
	return out
}

// EvaluateNode returns the findings that hold at now for one node: what
// the daemon runs when that node or its Lease changes, so a Lease renewal
// costs one node's rules, not the whole cluster's.
func (d *Nodes) EvaluateNode(name string, now time.Time) []Finding {
	n, ok := d.src.Node(name)
	if !ok {
		if _, known := d.seen[name]; known {
			return []Finding{d.deleted(name, now)}
		}
		return nil
	}
	return d.evaluate(nil, n, now)
}

// NodeScope is the prefix of one node's incident keys, for
// incident.Manager.Observe after EvaluateNode.
func NodeScope(node string) string { return "node/" + node + "/" }

func (d *Nodes) evaluate(out []Finding, n *corev1.Node, now time.Time) []Finding {
	ready, ok := readyCondition(n)
	if !ok {
		return out // registering; the kubelet has not reported yet
	}
	d.track(n.Name, string(ready.Status), now)
	switch {
	case ready.Status != corev1.ConditionTrue:
		out = append(out, Finding{
			Key: DownKey(n.Name), Rule: NodeNotReady, Severity: Critical, Node: n.Name,
			Reason: ready.Reason, Message: ready.Message, Since: ready.LastTransitionTime.Time,
		})
	default:
		if f, ok := d.leaseStale(n.Name, now); ok {
			out = append(out, f)
		}
	}
	if f, ok := pressure(n); ok {
		out = append(out, f)
	}
	if ts := d.transitions[n.Name]; len(ts) >= d.rules.FlapTransitions {
		out = append(out, Finding{
			Key: NodeScope(n.Name) + "flapping", Rule: NodeFlapping, Severity: Warning, Node: n.Name,
			Reason:  "Flapping",
			Message: fmt.Sprintf("%d Ready transitions in the last %s", len(ts), d.rules.FlapWindow),
			Since:   ts[0],
		})
	}
	return out
}

func (d *Nodes) deleted(name string, now time.Time) Finding {
	delete(d.seen, name)
	delete(d.transitions, name)
	return Finding{
		Key: NodeScope(name) + "deleted", Rule: NodeDeleted, Severity: Warning, Node: name,
		Reason: "Deleted", Message: "The Node object was deleted.", Since: now, Instant: true,
	}
}

// track records Ready transitions and forgets those outside the window.
func (d *Nodes) track(node, status string, now time.Time) {
	prev, known := d.seen[node]
	d.seen[node] = status
	ts := d.transitions[node]
	if known && prev != status && (prev == "True" || status == "True") {
		ts = append(ts, now)
	}
	cut := 0
	for cut < len(ts) && now.Sub(ts[cut]) > d.rules.FlapWindow {
		cut++
	}
	if ts = ts[cut:]; len(ts) == 0 {
		delete(d.transitions, node)
	} else {
		d.transitions[node] = ts
	}
}

// leaseStale is the early warning: the kubelet's Lease has not been renewed
// for LeaseMissedRenewals intervals while the node still says Ready, long
// before the node lifecycle controller's grace period (50s) runs out.
func (d *Nodes) leaseStale(node string, now time.Time) (Finding, bool) {
	l, ok := d.src.Lease(node)
	if !ok || l.Spec.RenewTime == nil {
		return Finding{}, false
	}
	last := l.Spec.RenewTime.Time
	limit := time.Duration(d.rules.LeaseMissedRenewals) * d.rules.LeaseRenewInterval
	if now.Sub(last) < limit {
		return Finding{}, false
	}
	return Finding{
		Key: DownKey(node), Rule: NodeLeaseStale, Severity: Warning, Node: node, Reason: "LeaseNotRenewed",
		Message: fmt.Sprintf("The kubelet has not renewed its Lease for %s (expected every %s); the node still reports Ready.",
			now.Sub(last).Round(time.Second), d.rules.LeaseRenewInterval),
		Since: last,
	}, true
}

func readyCondition(n *corev1.Node) (corev1.NodeCondition, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c, true
		}
	}
	return corev1.NodeCondition{}, false
}

var pressureTypes = []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable}

func pressure(n *corev1.Node) (Finding, bool) {
	var kinds, msgs []string
	var since time.Time
	for _, c := range n.Status.Conditions {
		if !slices.Contains(pressureTypes, c.Type) || c.Status != corev1.ConditionTrue {
			continue
		}
		kinds = append(kinds, string(c.Type))
		if c.Message != "" {
			msgs = append(msgs, c.Message)
		}
		if since.IsZero() || c.LastTransitionTime.Time.Before(since) {
			since = c.LastTransitionTime.Time
		}
	}
	if len(kinds) == 0 {
		return Finding{}, false
	}
	return Finding{
		Key: NodeScope(n.Name) + "pressure", Rule: NodePressure, Severity: Warning, Node: n.Name,
		Reason: strings.Join(kinds, ","), Message: strings.Join(msgs, "; "), Since: since,
	}, true
}

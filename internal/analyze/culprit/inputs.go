package culprit

import (
	"fmt"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/incident"
)

// Failures are the NodeNotReady incidents with the workloads on their node
// at failure time, and those of them without a memory limit.
func Failures(incs []incident.Incident) []Failure {
	var out []Failure
	for _, i := range incs {
		if i.Rule != detect.NodeNotReady || i.Node == "" {
			continue
		}
		f := Failure{Node: i.Node}
		for _, p := range i.Pods {
			w := Workload{Namespace: p.Namespace, Kind: p.Owner.Kind, Name: p.Owner.Name}
			f.Workloads = append(f.Workloads, w)
			if p.MemoryLimit == nil {
				f.Unbounded = append(f.Unbounded, w)
			}
		}
		out = append(out, f)
	}
	return out
}

// PresenceOf counts, per workload, the nodes it has running pods on, out
// of nodes.
func PresenceOf(pods []*cluster.Pod, owners cluster.Owners, nodes int) map[Workload]Presence {
	nodesOf := map[Workload]map[string]bool{}
	for _, p := range pods {
		if p.NodeName == "" || p.Phase == "Succeeded" || p.Phase == "Failed" {
			continue
		}
		o := owners.Resolve(p)
		w := Workload{Namespace: p.Namespace, Kind: o.Kind, Name: o.Name}
		if nodesOf[w] == nil {
			nodesOf[w] = map[string]bool{}
		}
		nodesOf[w][p.NodeName] = true
	}
	out := make(map[Workload]Presence, len(nodesOf))
	for w, ns := range nodesOf {
		out[w] = Presence{Nodes: len(ns), Of: nodes}
	}
	return out
}

// LeakEvidence is a leaking container's weight and sentence in the ranking.
func LeakEvidence(container, pod string, v leak.Verdict) Evidence {
	return Evidence{Score: 2 * v.Confidence, Sentence: fmt.Sprintf("container %s of pod %s leaks %.0f MiB/h (%s)",
		container, pod, v.SlopePerHour/(1<<20), v.Reason)}
}

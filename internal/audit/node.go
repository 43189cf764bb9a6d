package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/report"
)

// podMemory is a pod's memory as the scheduler and kubelet see it: the
// request is the larger of the sum over app containers and sidecars and the
// largest regular init container; the limit sums the app containers' and
// sidecars' limits and is only bounded when each has one.
func podMemory(p *cluster.Pod) (request, limit int64, bounded bool) {
	var initMax int64
	apps := 0
	bounded = true
	for i := range p.Containers {
		c := &p.Containers[i]
		d := declared(c)
		if c.Init && !c.Sidecar {
			if d[memRequest] != nil {
				initMax = max(initMax, *d[memRequest])
			}
			continue
		}
		apps++
		if d[memRequest] != nil {
			request += *d[memRequest]
		}
		if d[memLimit] != nil {
			limit += *d[memLimit]
		} else {
			bounded = false
		}
	}
	return max(request, initMax), limit, bounded && apps > 0
}

func terminated(p *cluster.Pod) bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

type podMem struct {
	ref          PodRef
	request, lim int64
}

// nodeFindings checks each node's pods against its allocatable memory.
func (a *auditor) nodeFindings() []Finding {
	byNode := map[string][]*cluster.Pod{}
	for i := range a.snap.Pods {
		p := &a.snap.Pods[i]
		if p.NodeName != "" && !terminated(p) {
			byNode[p.NodeName] = append(byNode[p.NodeName], p)
		}
	}
	var out []Finding
	for i := range a.snap.Nodes {
		n := &a.snap.Nodes[i]
		mem := &NodeMemory{Allocatable: n.AllocatableMemory, Unbounded: []PodRef{}}
		var pods []podMem
		for _, p := range byNode[n.Name] {
			req, lim, bounded := podMemory(p)
			ref := PodRef{Namespace: p.Namespace, Name: p.Name, Workload: a.snap.Owners.Resolve(p)}
			mem.Requests += req
			if bounded {
				mem.Limits += lim
			} else {
				mem.Unbounded = append(mem.Unbounded, ref)
			}
			if !bounded {
				lim = 0 // a partial sum says nothing
			}
			pods = append(pods, podMem{ref: ref, request: req, lim: lim})
		}
		alloc := n.AllocatableMemory
		if alloc > 0 && mem.Requests > alloc {
			f := Finding{Severity: Critical, Check: RequestsOvercommitted, Node: n.Name, Memory: mem}
			f.Message = fmt.Sprintf("memory requests of its pods sum to %s, %s of allocatable %s", bytes(mem.Requests), percent(mem.Requests, alloc), bytes(alloc))
			f.Detail = "the scheduler never places pods so: pods bound without it (static pods, spec.nodeName) or an allocatable that shrank did; the kubelet evicts pods when memory runs out"
			f.Fix = fmt.Sprintf("kubectl cordon %s, then move pods off it (delete them so they are re-created elsewhere) or lower their requests; largest requests: %s",
				n.Name, largest(pods, func(p podMem) int64 { return p.request }))
			out = append(out, f)
		}
		if alloc > 0 && mem.Limits > alloc {
			f := Finding{Severity: Warning, Check: LimitsOvercommitted, Node: n.Name, Memory: mem}
			f.Message = fmt.Sprintf("memory limits of its pods sum to %s, %s of allocatable %s", bytes(mem.Limits), percent(mem.Limits, alloc), bytes(alloc))
			f.Detail = "if its pods grow toward their limits together, the node runs out of memory before any limit is reached: the kubelet evicts and the kernel OOM-kills"
			if k := len(mem.Unbounded); k > 0 {
				f.Detail += fmt.Sprintf("; %d more %s no limit at all", k, plural(k, "pod has", "pods have"))
			}
			f.Fix = "raise memory requests toward the limits so the scheduler spreads these pods, or lower the limits to what they use; largest limits: " +
				largest(pods, func(p podMem) int64 { return p.lim })
			out = append(out, f)
		}
		if len(mem.Unbounded) >= 2 {
			f := Finding{Severity: Critical, Check: UnboundedTogether, Node: n.Name, Memory: mem}
			f.Message = fmt.Sprintf("%d pods without a memory limit share the node", len(mem.Unbounded))
			var pods, limit, recreate []string
			seen := map[string]bool{}
			for _, u := range mem.Unbounded {
				s := fmt.Sprintf("%s/%s (%s/%s)", u.Namespace, u.Name, u.Workload.Kind, u.Workload.Name)
				w := u.Namespace + "/" + u.Workload.Kind + "/" + u.Workload.Name
				pending := false
				if v, _ := a.defaultFor(u.Namespace, memLimit); v != nil && u.Workload.Kind != "Node" {
					s += " (its namespace's LimitRange default applies once it is re-created)"
					pending = true
				}
				pods = append(pods, s)
				switch {
				case seen[w]:
				case pending:
					recreate = append(recreate, w)
				default:
					limit = append(limit, w)
				}
				seen[w] = true
			}
			f.Detail = "any one of them can take the memory the others and the kubelet need, and the node goes NotReady with all of them: " + strings.Join(pods, ", ")
			var fix []string
			if len(limit) > 0 {
				fix = append(fix, "give memory limits to "+strings.Join(limit, ", "))
			}
			if len(recreate) > 0 {
				fix = append(fix, "re-create the pods of "+strings.Join(recreate, ", ")+" to apply their LimitRange default")
			}
			f.Fix = strings.Join(fix, "; ") + " (their own findings say how)"
			out = append(out, f)
		}
	}
	return out
}

// largest names up to three pods with the largest value, largest first.
func largest(pods []podMem, value func(podMem) int64) string {
	s := slices.Clone(pods)
	slices.SortStableFunc(s, func(x, y podMem) int {
		return cmp.Or(cmp.Compare(value(y), value(x)), cmp.Compare(x.ref.Namespace, y.ref.Namespace), cmp.Compare(x.ref.Name, y.ref.Name))
	})
	var out []string
	for _, p := range s[:min(3, len(s))] {
		if value(p) == 0 {
			break
		}
		out = append(out, fmt.Sprintf("%s/%s %s", p.ref.Namespace, p.ref.Name, bytes(value(p))))
	}
	return strings.Join(out, ", ")
}

func bytes(n int64) string { return report.Bytes(&n, "") }

func percent(n, of int64) string { return fmt.Sprintf("%.0f%%", float64(n)*100/float64(of)) }

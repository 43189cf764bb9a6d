package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/report"
)

// workload is the pods of one workload, as Owners.Resolve names it.
type workload struct {
	Namespace string
	Owner     cluster.Owner
	Pods      []*cluster.Pod
}

// auditor holds the snapshot indexed for the checks.
type auditor struct {
	snap      *cluster.Snapshot
	pods      int
	workloads []*workload
	// namespaces are those in scope: with pods, or known from Namespace
	// objects; active is false for a Terminating one.
	namespaces map[string]bool
	withPods   map[string]int
	lrs        map[string][]*cluster.LimitRange // by name
	quotas     map[string][]*cluster.ResourceQuota
}

func newAuditor(s *cluster.Snapshot, o Options) *auditor {
	a := &auditor{snap: s, namespaces: map[string]bool{}, withPods: map[string]int{},
		lrs: map[string][]*cluster.LimitRange{}, quotas: map[string][]*cluster.ResourceQuota{}}
	in := func(ns string) bool { return o.Namespace == "" || ns == o.Namespace }
	for i := range s.Namespaces {
		if n := &s.Namespaces[i]; in(n.Name) {
			a.namespaces[n.Name] = n.Phase != "Terminating"
		}
	}
	byKey := map[string]*workload{}
	for i := range s.Pods {
		p := &s.Pods[i]
		if !in(p.Namespace) {
			continue
		}
		a.pods++
		a.withPods[p.Namespace]++
		if _, ok := a.namespaces[p.Namespace]; !ok {
			a.namespaces[p.Namespace] = true
		}
		own := s.Owners.Resolve(p)
		key := p.Namespace + "/" + own.Kind + "/" + own.Name
		w := byKey[key]
		if w == nil {
			w = &workload{Namespace: p.Namespace, Owner: own}
			byKey[key] = w
			a.workloads = append(a.workloads, w)
		}
		w.Pods = append(w.Pods, p)
	}
	slices.SortFunc(a.workloads, func(x, y *workload) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Owner.Kind, y.Owner.Kind), cmp.Compare(x.Owner.Name, y.Owner.Name))
	})
	for i := range s.LimitRanges {
		l := &s.LimitRanges[i]
		a.lrs[l.Namespace] = append(a.lrs[l.Namespace], l)
	}
	for _, l := range a.lrs {
		slices.SortFunc(l, func(x, y *cluster.LimitRange) int { return cmp.Compare(x.Name, y.Name) })
	}
	for i := range s.Quotas {
		q := &s.Quotas[i]
		a.quotas[q.Namespace] = append(a.quotas[q.Namespace], q)
	}
	return a
}

// resource is one of the four values a container may declare.
type resource int

const (
	memRequest resource = iota
	memLimit
	cpuRequest
	cpuLimit
	nResources
)

var resourceNames = [nResources]string{"memory request", "memory limit", "CPU request", "CPU limit"}

// audited are the resources a container is faulted for lacking; a CPU
// limit is a choice (it throttles), not a gap.
var audited = []resource{memRequest, memLimit, cpuRequest}

// decl is a container's declared resources, by resource.
type decl [nResources]*int64

// declared returns what the API server stores for c: a request it was not
// given defaults to its limit.
func declared(c *cluster.Container) decl {
	return decl{
		memRequest: cmpOrNil(c.Requests.Memory, c.Limits.Memory),
		memLimit:   c.Limits.Memory,
		cpuRequest: cmpOrNil(c.Requests.MilliCPU, c.Limits.MilliCPU),
		cpuLimit:   c.Limits.MilliCPU,
	}
}

func cmpOrNil(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

func (d decl) empty() bool { return d == decl{} }

// defaultFor returns the value the namespace's LimitRanges give a container
// that lacks r, and the LimitRange it comes from. With several, the first by
// name that sets it wins, as the admission plugin merges them.
func (a *auditor) defaultFor(ns string, r resource) (*int64, string) {
	for _, l := range a.lrs[ns] {
		var v *int64
		switch r {
		case memRequest:
			v = l.DefaultRequest.Memory
		case memLimit:
			v = l.Default.Memory
		case cpuRequest:
			v = l.DefaultRequest.MilliCPU
		case cpuLimit:
			v = l.Default.MilliCPU
		}
		if v != nil {
			return v, l.Name
		}
	}
	return nil, ""
}

// effective returns what c declares once its namespace's LimitRange
// defaults are applied, as they are to every new pod.
func (a *auditor) effective(ns string, d decl) decl {
	for r := range nResources {
		if d[r] == nil {
			d[r], _ = a.defaultFor(ns, r)
		}
	}
	return d
}

func formatValue(r resource, v int64) string {
	if r == cpuRequest || r == cpuLimit {
		return fmt.Sprintf("%dm", v)
	}
	return report.Bytes(&v, "")
}

func refOf(c *cluster.Container) ContainerRef {
	switch {
	case c.Sidecar:
		return ContainerRef{Name: c.Name, Type: "sidecar"}
	case c.Init:
		return ContainerRef{Name: c.Name, Type: "init"}
	}
	return ContainerRef{Name: c.Name, Type: "app"}
}

// tally counts, for one container of a workload, the pods where it lacks
// each resource (after LimitRange defaults), and where a default would fill
// what the running pod lacks.
type tally struct {
	ref     ContainerRef
	missing [nResources]int
	pending [nResources]int
	// request is a memory request seen on the container, to size a limit.
	request *int64
}

// workload checks one workload's containers and pods.
func (a *auditor) workload(w *workload) []Finding {
	var order []string
	tallies := map[string]*tally{}
	bestEffort, pendingPods, containers := 0, 0, 0
	for _, p := range w.Pods {
		eff := make([]decl, len(p.Containers))
		effEmpty, pending := true, false
		for i := range p.Containers {
			d := declared(&p.Containers[i])
			eff[i] = d
			if w.Owner.Kind != "Node" { // the kubelet runs a static pod from its file, untouched by admission
				eff[i] = a.effective(w.Namespace, d)
			}
			effEmpty = effEmpty && eff[i].empty()
			for _, r := range audited {
				pending = pending || (d[r] == nil && eff[i][r] != nil)
			}
		}
		containers = max(containers, len(p.Containers))
		if len(p.Containers) > 0 && effEmpty {
			bestEffort++ // BestEffort covers every missing request and limit
			continue
		}
		if pending {
			pendingPods++
		}
		for i := range p.Containers {
			c := &p.Containers[i]
			key := refOf(c).Type + "/" + c.Name
			t := tallies[key]
			if t == nil {
				t = &tally{ref: refOf(c)}
				tallies[key] = t
				order = append(order, key)
			}
			d := declared(c)
			if t.request == nil {
				t.request = d[memRequest]
			}
			for _, r := range audited {
				if eff[i][r] == nil {
					t.missing[r]++
				} else if d[r] == nil {
					t.pending[r]++
				}
			}
		}
	}

	var out []Finding
	own := w.Owner
	base := func(sev Severity, check string, pods int) Finding {
		return Finding{Severity: sev, Check: check, Namespace: w.Namespace, Workload: &own, Pods: pods, PodsTotal: len(w.Pods)}
	}
	if bestEffort > 0 {
		f := base(Warning, BestEffort, bestEffort)
		f.Message = podsPhrase(bestEffort, len(w.Pods), "is", "are") + " BestEffort: no container requests or limits memory or CPU"
		f.Detail = "BestEffort pods are scheduled as if they needed nothing, may take all of their node's memory, and are the first evicted under memory pressure" + a.lrNote(w.Namespace, memLimit)
		f.Fix = a.fix(w, nil, "--requests=cpu=CPU,memory=REQUEST --limits=memory=LIMIT")
		out = append(out, f)
	}

	checks := []struct {
		r     resource
		check string
		sev   Severity
		what  string
		why   string
	}{
		{memLimit, MissingMemoryLimit, Warning, "no memory limit",
			"without one a container may grow until its node runs out of memory, taking the node's other pods and its kubelet with it"},
		{memRequest, MissingMemoryRequest, Warning, "no memory request",
			"without one the scheduler places a container as if it needed no memory, so its node can be overcommitted"},
		{cpuRequest, MissingCPURequest, Info, "no CPU request",
			"without one a container gets only a minimal CPU share when its node is busy, and the scheduler does not count it"},
	}
	for _, c := range checks {
		var refs []ContainerRef
		var args []string
		pods := 0
		for _, key := range order {
			t := tallies[key]
			if t.missing[c.r] == 0 {
				continue
			}
			refs = append(refs, t.ref)
			pods = max(pods, t.missing[c.r])
			args = append(args, fixArgs(c.r, t))
		}
		if len(refs) == 0 {
			continue
		}
		f := base(c.sev, c.check, pods)
		f.Containers = refs
		f.Message = fmt.Sprintf("%s %s %s %s (%s)", plural(len(refs), "container", "containers"), names(refs), plural(len(refs), "has", "have"), c.what, inPods(pods, len(w.Pods)))
		f.Detail = c.why + a.lrNote(w.Namespace, c.r)
		f.Fix = a.fixEach(w, refs, args, containers)
		out = append(out, f)
	}

	if pendingPods > 0 {
		var refs []ContainerRef
		var filled []string
		seen := map[string]bool{}
		for _, key := range order {
			t := tallies[key]
			any := false
			for _, r := range audited {
				if t.pending[r] == 0 {
					continue
				}
				any = true
				v, lr := a.defaultFor(w.Namespace, r)
				s := fmt.Sprintf("%s %s (LimitRange %s)", resourceNames[r], formatValue(r, *v), lr)
				if !seen[s] {
					seen[s] = true
					filled = append(filled, s)
				}
			}
			if any {
				refs = append(refs, t.ref)
			}
		}
		f := base(Info, LimitRangeDefaultNotApplied, pendingPods)
		f.Containers = refs
		f.Message = fmt.Sprintf("%s without the namespace's LimitRange default: %s", podsPhrase(pendingPods, len(w.Pods), "runs", "run"), strings.Join(filled, ", "))
		f.Detail = fmt.Sprintf("not missing — the LimitRange admission plugin gives %s %s the default when a pod is created; these pods predate the LimitRange and run without it until they are replaced", plural(len(refs), "container", "containers"), names(refs))
		f.Fix = a.restart(w)
		out = append(out, f)
	}
	return out
}

// podsPhrase says how many of a workload's pods, with the verb agreeing:
// "its only pod is", "all 3 pods are", "1 of 3 pods is".
func podsPhrase(n, total int, one, many string) string {
	switch {
	case total == 1:
		return "its only pod " + one
	case n == total:
		return fmt.Sprintf("all %d pods %s", n, many)
	case n == 1:
		return fmt.Sprintf("1 of %d pods %s", total, one)
	}
	return fmt.Sprintf("%d of %d pods %s", n, total, many)
}

// inPods is podsPhrase without a verb, for a parenthesis.
func inPods(n, total int) string {
	switch {
	case total == 1:
		return "its only pod"
	case n == total:
		return fmt.Sprintf("all %d pods", n)
	}
	return fmt.Sprintf("%d of %d pods", n, total)
}

// lrNote says, where it matters, why no LimitRange default covers r.
func (a *auditor) lrNote(ns string, r resource) string {
	if !a.snap.Listed.LimitRanges {
		return ""
	}
	lrs := a.lrs[ns]
	if len(lrs) == 0 {
		return fmt.Sprintf("; namespace %s has no LimitRange to give it a default", ns)
	}
	var n []string
	for _, l := range lrs {
		n = append(n, l.Name)
	}
	return fmt.Sprintf("; namespace %s's LimitRange %s sets no default %s", ns, strings.Join(n, ", "), resourceNames[r])
}

func fixArgs(r resource, t *tally) string {
	switch r {
	case memLimit:
		if t.request != nil {
			// A memory limit equal to the request: the container can never
			// take memory the scheduler did not count for it.
			return "--limits=memory=" + report.Bytes(t.request, "")
		}
		return "--limits=memory=LIMIT"
	case memRequest:
		return "--requests=memory=REQUEST"
	default:
		return "--requests=cpu=CPU"
	}
}

func names(refs []ContainerRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.Name
		if r.Type != "app" {
			s[i] += " (" + r.Type + ")"
		}
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

package audit

import (
	"fmt"
	"slices"
	"strings"
)

// namespaceFindings checks each namespace that runs pods for a LimitRange
// that gives containers a default memory limit and a ResourceQuota that
// bounds memory. Namespaces without pods have nothing to bound yet.
func (a *auditor) namespaceFindings() []Finding {
	// Workloads with a container that declares no memory limit, by namespace.
	unbounded := map[string]int{}
	for _, w := range a.workloads {
		if w.Owner.Kind == "Node" {
			continue // static pods: no LimitRange reaches them
		}
	pods:
		for _, p := range w.Pods {
			for i := range p.Containers {
				if declared(&p.Containers[i])[memLimit] == nil {
					unbounded[w.Namespace]++
					break pods
				}
			}
		}
	}
	var names []string
	for ns, active := range a.namespaces {
		if active && a.withPods[ns] > 0 {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	var out []Finding
	for _, ns := range names {
		if a.snap.Listed.LimitRanges {
			if v, _ := a.defaultFor(ns, memLimit); v == nil {
				f := Finding{Severity: Info, Check: NoLimitRange, Namespace: ns}
				if lrs := a.lrs[ns]; len(lrs) == 0 {
					f.Message = fmt.Sprintf("namespace %s has no LimitRange", ns)
				} else {
					var n []string
					for _, l := range lrs {
						n = append(n, l.Name)
					}
					f.Message = fmt.Sprintf("no LimitRange in namespace %s (%s) sets a default memory limit", ns, strings.Join(n, ", "))
				}
				f.Detail = "a container created here without a memory limit runs without one"
				if k := unbounded[ns]; k > 0 {
					f.Severity = Warning
					f.Detail += fmt.Sprintf("; %d %s such containers now", k, plural(k, "workload has", "workloads have"))
				}
				f.Fix = fmt.Sprintf("add a LimitRange to namespace %s with an item of type Container whose default and defaultRequest set memory (kubectl apply -n %s -f limitrange.yaml)", ns, ns)
				out = append(out, f)
			}
		}
		if a.snap.Listed.ResourceQuotas {
			bounded := false
			var n []string
			for _, q := range a.quotas[ns] {
				n = append(n, q.Name)
				bounded = bounded || q.RequestsMemory != nil || q.LimitsMemory != nil
			}
			if !bounded {
				f := Finding{Severity: Info, Check: NoResourceQuota, Namespace: ns}
				if len(n) == 0 {
					f.Message = fmt.Sprintf("namespace %s has no ResourceQuota", ns)
				} else {
					f.Message = fmt.Sprintf("no ResourceQuota in namespace %s (%s) bounds memory", ns, strings.Join(n, ", "))
				}
				f.Detail = "nothing caps the memory its pods may request or be limited to in total"
				f.Fix = fmt.Sprintf("add a ResourceQuota to namespace %s with hard requests.memory and limits.memory (kubectl create quota mem -n %s --hard=requests.memory=REQUESTS,limits.memory=LIMITS)", ns, ns)
				out = append(out, f)
			}
		}
	}
	return out
}

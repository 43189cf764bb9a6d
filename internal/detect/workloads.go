package detect

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/health"
)

// WorkloadSource is what the workload rules read.
type WorkloadSource interface {
	Pods() []*cluster.Pod
	Workloads() []cluster.Workload
	Owners() cluster.Owners
}

// Workloads evaluates the workload rules: pods that keep failing, grouped
// per workload, and workloads below their desired replicas.
type Workloads struct {
	rules Rules
	src   WorkloadSource
	// lastFailing holds each failing workload's last report and when it was
	// last seen failing, so a crash loop between crashes stays one incident.
	lastFailing map[string]failing
	// below is when each workload was first seen below its desired replicas.
	below map[string]time.Time
}

type failing struct {
	at     time.Time
	report health.WorkloadReport
	since  time.Time
}

// NewWorkloads returns the workload rules over src.
func NewWorkloads(rules Rules, src WorkloadSource) *Workloads {
	return &Workloads{rules: rules, src: src, lastFailing: map[string]failing{}, below: map[string]time.Time{}}
}

// waitingReasons are container waiting states that mean the pod is broken,
// not starting: the story's "mistyped a command in a config file" shows as
// CrashLoopBackOff or CreateContainerConfigError.
var waitingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// Evaluate returns the workload findings at now, with the failing
// workloads' details in reports (keyed by finding key).
func (w *Workloads) Evaluate(now time.Time) ([]Finding, map[string]health.WorkloadReport) {
	owners := w.src.Owners()
	current := map[string]*health.WorkloadReport{}
	for _, p := range w.src.Pods() {
		fp, ok := w.podFailure(p, now)
		if !ok {
			continue
		}
		o := owners.Resolve(p)
		key := fmt.Sprintf("workload/%s/%s/%s/failing", p.Namespace, o.Kind, o.Name)
		r := current[key]
		if r == nil {
			r = &health.WorkloadReport{Namespace: p.Namespace, Kind: o.Kind, Name: o.Name}
			current[key] = r
		}
		r.Pods = append(r.Pods, fp)
	}
	reports := map[string]health.WorkloadReport{}
	for key, r := range current {
		slices.SortFunc(r.Pods, func(a, b health.FailingPod) int { return cmp.Compare(a.Name, b.Name) })
		r.Reason = commonReason(r.Pods)
		since := now
		if prev, ok := w.lastFailing[key]; ok {
			since = prev.since
		}
		w.lastFailing[key] = failing{at: now, report: *r, since: since}
	}
	var out []Finding
	for key, f := range w.lastFailing {
		if now.Sub(f.at) > w.rules.WorkloadQuietPeriod {
			delete(w.lastFailing, key)
			continue
		}
		r := f.report
		reports[key] = r
		out = append(out, Finding{
			Key: key, Rule: WorkloadFailing, Severity: Warning, Workload: r.Namespace + "/" + r.Kind + "/" + r.Name,
			Reason: r.Reason, Message: fmt.Sprintf("%d pods of %s %s/%s failing: %s", len(r.Pods), r.Kind, r.Namespace, r.Name, r.Reason),
			Since: f.since,
		})
	}
	out = append(out, w.unavailable(now, reports)...)
	slices.SortFunc(out, func(a, b Finding) int { return cmp.Compare(a.Key, b.Key) })
	return out, reports
}

// podFailure says why a pod is failing, if it is.
func (w *Workloads) podFailure(p *cluster.Pod, now time.Time) (health.FailingPod, bool) {
	fp := health.FailingPod{Name: p.Name, Node: p.NodeName}
	if p.Phase == string(corev1.PodFailed) && p.Reason == "Evicted" {
		if at := p.LastTransition; !at.IsZero() && now.Sub(at) > w.rules.RecentWindow {
			return fp, false
		}
		fp.Reason, fp.Message = "Evicted", p.Message
		return fp, true
	}
	if p.Phase == string(corev1.PodSucceeded) || p.Phase == string(corev1.PodFailed) || p.Deleting {
		return fp, false
	}
	if p.Unschedulable && now.Sub(p.UnschedulableSince) >= w.rules.UnschedulableAfter {
		fp.Reason, fp.Message = "Unschedulable", p.UnschedulableMessage
		return fp, true
	}
	for _, cs := range p.Statuses {
		fp.Container, fp.Restarts = cs.Name, cs.Restarts
		if t := cs.LastTermination; t != nil {
			fp.ExitCode, fp.Message = t.ExitCode, t.Message
			if fp.Message == "" {
				fp.Message = t.Reason
			}
		}
		if waitingReasons[cs.Waiting] {
			fp.Reason = cs.Waiting
			if fp.Message == "" {
				fp.Message = cs.WaitingMessage
			}
			return fp, true
		}
		if t := cs.Terminated; t != nil && t.Reason == "OOMKilled" {
			fp.Reason, fp.ExitCode = "OOMKilled", t.ExitCode
			return fp, true
		}
		if t := cs.LastTermination; t != nil && t.Reason == "OOMKilled" && now.Sub(t.FinishedAt) <= w.rules.RecentWindow {
			fp.Reason = "OOMKilled"
			return fp, true
		}
	}
	return fp, false
}

// unavailable reports workloads below their desired replicas for longer
// than UnavailableAfter: critical when none is available, as with the
// story's web servers during the outage.
func (w *Workloads) unavailable(now time.Time, reports map[string]health.WorkloadReport) []Finding {
	var out []Finding
	present := map[string]bool{}
	for _, wl := range w.src.Workloads() {
		key := fmt.Sprintf("workload/%s/%s/%s/unavailable", wl.Namespace, wl.Kind, wl.Name)
		if wl.Desired <= 0 || wl.Available >= wl.Desired {
			continue
		}
		present[key] = true
		first, ok := w.below[key]
		if !ok {
			first = now
			w.below[key] = now
		}
		if now.Sub(first) < w.rules.UnavailableAfter {
			continue
		}
		sev := Warning
		if wl.Available == 0 {
			sev = Critical
		}
		reports[key] = health.WorkloadReport{Namespace: wl.Namespace, Kind: wl.Kind, Name: wl.Name, Reason: "Unavailable",
			Desired: wl.Desired, Available: wl.Available, Pods: []health.FailingPod{}}
		out = append(out, Finding{
			Key: key, Rule: WorkloadUnavailable, Severity: sev, Workload: wl.Namespace + "/" + wl.Kind + "/" + wl.Name,
			Reason:  "Unavailable",
			Message: fmt.Sprintf("%s %s/%s has %d of %d replicas available", wl.Kind, wl.Namespace, wl.Name, wl.Available, wl.Desired),
			Since:   first,
		})
	}
	for key := range w.below {
		if !present[key] {
			delete(w.below, key)
		}
	}
	return out
}

// commonReason is the most frequent reason among the pods (ties by name).
func commonReason(pods []health.FailingPod) string {
	count := map[string]int{}
	best := ""
	for _, p := range pods {
		count[p.Reason]++
		if c := count[p.Reason]; c > count[best] || (c == count[best] && p.Reason < best) {
			best = p.Reason
		}
	}
	return best
}

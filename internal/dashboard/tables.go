package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
	"github.com/nodewatch/nodewatch/internal/audit"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/recommend"
)

// The audit and recommendations pages compute what `nodewatch audit` and
// `nodewatch recommend` print, through the same packages (audit.Run,
// recommend.Recommend, recommend.PatchFor), from the informer cache instead
// of a fresh listing. The cache holds no Namespaces, LimitRanges or
// ResourceQuotas: the audit lists them live through Policies (the CLI's
// kube.ListPolicies) and keeps that listing for PolicyTTL — a page view
// costs three small LIST calls at most every PolicyTTL, and the daemon
// holds nothing for them between views.

// PolicyLister lists the Namespaces, LimitRanges and ResourceQuotas of
// namespace ("" for all) into s, and sets s.Listed: kube.ListPolicies.
type PolicyLister func(ctx context.Context, namespace string, s *cluster.Snapshot) error

// policyCache keeps the last listing of every namespace's policies.
type policyCache struct {
	mu   sync.Mutex
	at   time.Time
	snap *cluster.Snapshot // Namespaces, LimitRanges, Quotas, Listed only
	err  error
}

// get returns the policies, listing them again when the last listing is
// older than ttl. Only one listing runs at a time.
func (c *policyCache) get(ctx context.Context, list PolicyLister, ttl time.Duration, now time.Time) (*cluster.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && now.Sub(c.at) < ttl && now.Sub(c.at) >= 0 {
		return c.snap, c.err
	}
	s := cluster.NewSnapshot()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := list(ctx, "", s)
	if err != nil {
		// Audit without them (the report says which checks were skipped),
		// and say why.
		s = cluster.NewSnapshot()
		err = fmt.Errorf("listing namespaces, LimitRanges and ResourceQuotas: %w", err)
	}
	c.snap, c.err, c.at = s, err, now
	return s, err
}

// snapshot is the informer cache as a cluster.Snapshot, the input of the
// CLI's analyses: every node, the pods of namespace ("" for all) and the
// owners. The pods are shallow copies of the cache's own (read-only).
func snapshot(c Cluster, namespace string) *cluster.Snapshot {
	s := cluster.NewSnapshot()
	for _, n := range c.Nodes() {
		s.Nodes = append(s.Nodes, cluster.NodeFrom(n))
	}
	pods := c.Pods()
	s.Pods = make([]cluster.Pod, 0, len(pods))
	for _, p := range pods {
		if namespace == "" || p.Namespace == namespace {
			s.Pods = append(s.Pods, *p)
		}
	}
	s.Owners = c.Owners()
	return s
}

// podSnapshots are the pods of each namespace that has any, in one pass
// over the cache, with the owners they resolve through (shared): what
// recommend.Recommend reads, for each namespace in turn. It returns the
// namespaces sorted.
func podSnapshots(c Cluster) ([]string, map[string]*cluster.Snapshot) {
	pods := c.Pods()
	count := map[string]int{}
	for _, p := range pods {
		count[p.Namespace]++
	}
	owners := c.Owners()
	snaps := make(map[string]*cluster.Snapshot, len(count))
	names := make([]string, 0, len(count))
	for ns, n := range count {
		snaps[ns] = &cluster.Snapshot{Pods: make([]cluster.Pod, 0, n), Owners: owners}
		names = append(names, ns)
	}
	for _, p := range pods {
		s := snaps[p.Namespace]
		s.Pods = append(s.Pods, *p)
	}
	slices.Sort(names)
	return names, snaps
}

// namespacesOf lists the namespaces that have pods, for the pages' picker.
func namespacesOf(c Cluster) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, p := range c.Pods() {
		if !seen[p.Namespace] {
			seen[p.Namespace] = true
			out = append(out, p.Namespace)
		}
	}
	slices.Sort(out)
	return out
}

type auditJSON struct {
	Warnings []string `json:"warnings,omitempty"`
	// Namespace is the page's scope ("" for all); Namespaces have pods.
	Namespace  string        `json:"namespace"`
	Namespaces []string      `json:"namespaces"`
	Report     *audit.Report `json:"report"`
}

// auditPage is `nodewatch audit [-n NS] -o json` over the informer cache.
func (s *server) auditPage(r *http.Request, _ timeRange) (any, error) {
	ns := r.URL.Query().Get("namespace")
	out := auditJSON{Namespace: ns, Namespaces: namespacesOf(s.o.Cluster)}
	snap := snapshot(s.o.Cluster, "")
	if s.o.Policies != nil {
		pol, err := s.policies.get(r.Context(), s.o.Policies, s.o.PolicyTTL, s.o.Now())
		if err != nil {
			out.Warnings = append(out.Warnings, err.Error())
		}
		snap.Namespaces, snap.LimitRanges, snap.Quotas, snap.Listed = pol.Namespaces, pol.LimitRanges, pol.Quotas, pol.Listed
	}
	out.Report = audit.Run(snap, audit.Options{Namespace: ns}, s.o.Now())
	// The table shows each finding's message, detail and fix; a node's list
	// of unbounded pods (named in its detail) is most of the payload at
	// 1,000 nodes (4.9 of 6 MB), so the page goes without it.
	for i := range out.Report.Findings {
		if m := out.Report.Findings[i].Memory; m != nil {
			slim := *m
			slim.Unbounded = nil
			out.Report.Findings[i].Memory = &slim
		}
	}
	return out, nil
}

// workloadRow is one workload's recommendation, as `recommend -o json`
// gives it less rightsize's working numbers (details), with its patch: the
// strategic-merge patch, the kubectl command that applies it (as `recommend
// -o patch` prints it), or why there is none.
type workloadRow struct {
	Namespace            string     `json:"namespace"`
	Kind                 string     `json:"kind"`
	Name                 string     `json:"name"`
	Pods                 int        `json:"pods"`
	Containers           []sizedRow `json:"containers"`
	MemoryReservedBefore int64      `json:"memoryReservedBeforeBytes"`
	MemoryReservedAfter  int64      `json:"memoryReservedAfterBytes"`
	Patch                string     `json:"patch,omitempty"`
	Command              string     `json:"command,omitempty"`
	NoPatch              string     `json:"noPatch,omitempty"`
}

type sizedRow struct {
	Name            string               `json:"name"`
	Sidecar         bool                 `json:"sidecar,omitempty"`
	Status          string               `json:"status"`
	Note            string               `json:"note"`
	Current         recommend.Resources  `json:"current"`
	Recommended     *recommend.Resources `json:"recommended,omitempty"`
	OOMKills        int                  `json:"oomKills"`
	Restarts        int                  `json:"restarts"`
	Confidence      float64              `json:"confidence"`
	ConfidenceLevel string               `json:"confidenceLevel"`
	Spiky           bool                 `json:"spiky,omitempty"`
}

func recommendationRow(w recommend.Workload) workloadRow {
	row := workloadRow{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Pods: w.Pods, Containers: []sizedRow{},
		MemoryReservedBefore: w.MemoryReservedBefore, MemoryReservedAfter: w.MemoryReservedAfter}
	for _, c := range w.Containers {
		row.Containers = append(row.Containers, sizedRow{Name: c.Name, Sidecar: c.Sidecar, Status: c.Status, Note: c.Note,
			Current: c.Current, Recommended: c.Recommended, OOMKills: c.OOMKills, Restarts: c.Restarts,
			Confidence: c.Details.Confidence, ConfidenceLevel: c.Details.ConfidenceLevel, Spiky: c.Details.Spiky})
	}
	b, why := recommend.PatchFor(w)
	if b != nil {
		p := recommend.Patch{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Patch: b}
		row.Patch, row.Command = string(b), p.Command("")
	}
	row.NoPatch = why
	return row
}

type recommendationsJSON struct {
	Range      rangeJSON `json:"range"`
	History    bool      `json:"history"`
	Warnings   []string  `json:"warnings,omitempty"`
	Namespace  string    `json:"namespace"`
	Namespaces []string  `json:"namespaces"`
	// The report's summary, as `recommend -o json` gives it.
	Generated            time.Time     `json:"generated"`
	Since                string        `json:"since"`
	Resolution           string        `json:"resolution"`
	MinHistory           string        `json:"minHistory"`
	MinSamples           int           `json:"minSamples"`
	CPULimits            bool          `json:"cpuLimits"`
	MemoryReservedBefore int64         `json:"memoryReservedBeforeBytes"`
	MemoryReservedAfter  int64         `json:"memoryReservedAfterBytes"`
	UnmatchedPods        int           `json:"unmatchedPods"`
	Workloads            []workloadRow `json:"workloads"`
	// Script is every patch as one reviewable shell script: the output of
	// `nodewatch recommend -o patch`.
	Script string `json:"script"`
	// Refreshing: the report is older than a minute (Generated says when
	// it was computed) and a fresh one is being computed.
	Refreshing bool `json:"refreshing,omitempty"`
	// Pending, when set, says the report is being computed and none is
	// kept yet: the page asks again.
	Pending *pendingJSON `json:"pending,omitempty"`
}

// pendingJSON is a report being computed.
type pendingJSON struct {
	Since time.Time `json:"since"`
}

// recommendationsPage is `nodewatch recommend [-n NS] --since RANGE -o json`
// with each workload's patch. The range picker is the history to size
// from (default 7d, as the CLI's --since); ?min-history=, ?min-samples=
// and ?cpu-limits=true are the CLI's flags of the same names.
func (s *server) recommendationsPage(r *http.Request, rng timeRange) (any, error) {
	q := r.URL.Query()
	ns := q.Get("namespace")
	if !rng.Explicit {
		s.setWidth(&rng, defaultSince)
	}
	def := rightsize.DefaultOptions()
	minHistory, minSamples, cpuLimits := def.MinSpan, def.MinSamples, false
	var errs []error
	if v := q.Get("min-history"); v != "" {
		d, err := parseWidth(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("min-history: %q is not a duration such as 30m, 1h or 1d", v))
		}
		minHistory = d
	}
	if v := q.Get("min-samples"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("min-samples: %q is not a number", v))
		}
		minSamples = n
	}
	if v := q.Get("cpu-limits"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("cpu-limits: %q is not true or false", v))
		}
		cpuLimits = b
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &httpError{code: http.StatusBadRequest, msg: err.Error()}
	}
	sizing, err := recommend.Sizing(minHistory, minSamples, cpuLimits)
	if err != nil {
		return nil, &httpError{code: http.StatusBadRequest, msg: "min-history, min-samples: " + err.Error()}
	}
	since := rng.End.Sub(rng.Start)
	res, _ := recommend.ResolveResolution(recommend.ResolutionAuto, since)
	out := recommendationsJSON{Range: rng.json(), History: s.o.History != nil, Namespace: ns, Namespaces: namespacesOf(s.o.Cluster),
		Generated: rng.End.UTC(), Since: shortWidth(since), Resolution: res, MinHistory: shortWidth(minHistory), MinSamples: minSamples,
		CPULimits: cpuLimits, Workloads: []workloadRow{}}
	if s.o.History == nil {
		out.Warnings = append(out.Warnings, noHistory)
		return out, nil
	}
	got, err := s.report(r.Context(), reportParams{namespace: ns, end: rng.End, pinned: q.Get("end"), since: since, resolution: res,
		minHistory: minHistory, minSamples: minSamples, cpuLimits: cpuLimits, sizing: sizing}, s.o.RecommendWait)
	if errors.Is(err, errBusy) {
		return nil, &httpError{code: http.StatusServiceUnavailable, msg: err.Error()}
	}
	if err != nil {
		return nil, fmt.Errorf("recommendations from the history: %w", err)
	}
	if got.pending != nil {
		out.Pending = &pendingJSON{Since: got.pending.started.UTC()}
		return out, nil
	}
	rep := got.report
	out.Refreshing = got.refreshing
	out.Generated, out.Since, out.Resolution = rep.Generated.UTC(), rep.Since, rep.Resolution
	out.MemoryReservedBefore, out.MemoryReservedAfter, out.UnmatchedPods = rep.MemoryReservedBefore, rep.MemoryReservedAfter, rep.UnmatchedPods
	for _, w := range rep.Workloads {
		out.Workloads = append(out.Workloads, recommendationRow(w))
	}
	var script bytes.Buffer
	_ = recommend.WritePatches(&script, rep, "")
	out.Script = script.String()
	return out, nil
}

// reportParams are what a recommendations report is computed for.
type reportParams struct {
	namespace string // "" for all
	end       time.Time
	// pinned is the page's ?end= as given, "" for now: a report for now
	// is one entry of the cache, whatever now was when it was computed.
	pinned     string
	since      time.Duration
	resolution string
	minHistory time.Duration
	minSamples int
	cpuLimits  bool
	sizing     rightsize.Options // from minHistory, minSamples and cpuLimits
}

// key names p in the cache canonically: one ?end= however it is written
// (Unix seconds, RFC 3339, a fraction), to the second.
func (p reportParams) key() string {
	pinned := ""
	if p.pinned != "" {
		pinned = p.end.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return fmt.Sprint(p.namespace, "|", p.since, "|", pinned, "|", p.minHistory, "|", p.minSamples, "|", p.cpuLimits)
}

// report returns what the cache has for p, computing it when there is
// none fresh enough, waiting at most wait (≤ 0: until it is there) when
// there is none at all. The computation is not bound to ctx, which only
// ends the wait: it may go on after the view has returned.
func (s *server) report(ctx context.Context, p reportParams, wait time.Duration) (cached, error) {
	return s.recs.get(ctx, p.key(), s.o.RecommendTTL, wait, s.o.Now(), func(ctx context.Context) (recommend.Report, error) {
		ctx, cancel := context.WithTimeout(ctx, reportTimeout)
		defer cancel()
		return s.recommend(ctx, p.namespace, recommend.Options{Now: p.end, Since: p.since, Resolution: p.resolution, Sizing: p.sizing})
	})
}

// reportTimeout bounds one report's computation: a week of history for
// every namespace at 30,000 pods takes about 20 s (BENCHMARKS.md).
const reportTimeout = 5 * time.Minute

// defaultReport are the parameters of the recommendations page viewed
// without any: every namespace, the default range ending now, the default
// sizing.
func (s *server) defaultReport() (reportParams, error) {
	def := rightsize.DefaultOptions()
	p := reportParams{end: s.o.Now(), since: defaultSince, minHistory: def.MinSpan, minSamples: def.MinSamples}
	p.resolution, _ = recommend.ResolveResolution(recommend.ResolutionAuto, p.since)
	var err error
	p.sizing, err = recommend.Sizing(p.minHistory, p.minSamples, p.cpuLimits)
	return p, err
}

// recommend sizes the workloads of namespace ns, or of every namespace
// one namespace at a time: the history read for all of them at once is
// the whole history of every container (at 1,000 nodes and 30,000 pods,
// 3 hours of raw samples took the daemon from 160 to 830 MB), one
// namespace's is a fraction of it. The workloads come out in the order
// recommend sorts them (namespace first), so the report is the one
// `recommend -A` gives — but for UnmatchedPods, which counts the
// namespaces that still have pods only.
func (s *server) recommend(ctx context.Context, ns string, o recommend.Options) (recommend.Report, error) {
	if ns != "" {
		o.Namespace = ns
		return recommend.Recommend(ctx, s.o.History, snapshot(s.o.Cluster, ns), o)
	}
	var all recommend.Report
	names, snaps := podSnapshots(s.o.Cluster)
	for i, n := range names {
		o.Namespace = n
		r, err := recommend.Recommend(ctx, s.o.History, snaps[n], o)
		if err != nil {
			return all, fmt.Errorf("namespace %s: %w", n, err)
		}
		if i == 0 {
			all = r
			continue
		}
		all.Workloads = append(all.Workloads, r.Workloads...)
		all.MemoryReservedBefore += r.MemoryReservedBefore
		all.MemoryReservedAfter += r.MemoryReservedAfter
		all.UnmatchedPods += r.UnmatchedPods
	}
	if all.Workloads == nil { // no pods at all
		return recommend.Recommend(ctx, s.o.History, cluster.NewSnapshot(), o)
	}
	return all, nil
}

// defaultSince is the history the recommendations are sized from when the
// page does not choose: recommend's --since default.
const defaultSince = 7 * 24 * time.Hour

// shortWidth writes a duration as the range picker and recommend's flags
// take it: 7d, 3h, 90m.
func shortWidth(d time.Duration) string {
	if day := 24 * time.Hour; d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return model.Duration(d).String()
}

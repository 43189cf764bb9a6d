package recommend

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
	"github.com/nodewatch/nodewatch/internal/cluster"
)

// History is the resource history, queried with PromQL: nodewatch's store
// (history.DB) in the daemon, or a remote Prometheus-compatible API
// (history.Remote) from the CLI.
type History interface {
	Query(ctx context.Context, q string, at time.Time) (parser.Value, error)
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error)
}

// Resolutions of the history recommend reads.
const (
	ResolutionAuto = "auto"
	ResolutionRaw  = "raw"
	Resolution5m   = "5m"
	// rawUpTo is the longest --since read as raw samples under auto: six
	// hours of 30 s samples is 720 points a container; beyond, the 5-minute
	// maxima are read (a week is 2,016 points instead of 20,160).
	rawUpTo = 6 * time.Hour
)

// seriesKey names one container of one pod in the history.
type seriesKey struct{ namespace, pod, container string }

// containerSeries is what the history holds of one pod's container, converted
// to what rightsize reads: working set in bytes, CPU in cores, the times
// of OOM kills and of restarts.
type containerSeries struct {
	seriesKey
	// owner is the workload from the daemon's workload_kind and workload
	// labels; empty when the series has none (a plain Prometheus).
	owner          cluster.Owner
	memory, cpu    []rightsize.Sample
	ooms, restarts []time.Time
	// limit is the last memory limit cAdvisor reported (bytes), 0 for none.
	limit float64
}

type historyQuery struct {
	namespace  string // "" for all
	now        time.Time
	since      time.Duration
	resolution string // raw or 5m
}

// ResolveResolution picks raw samples or 5-minute aggregates for auto.
func ResolveResolution(r string, since time.Duration) (string, error) {
	switch r {
	case ResolutionAuto:
		if since <= rawUpTo {
			return ResolutionRaw, nil
		}
		return Resolution5m, nil
	case ResolutionRaw, Resolution5m:
		return r, nil
	}
	return "", fmt.Errorf("--resolution %q: use auto, raw or 5m", r)
}

// readHistory reads every container's history over q.since.
//
// Raw: the stored samples themselves (a range selector evaluated at now),
// the CPU counter turned into the usage over each scrape interval, a
// counter going backwards read as a restart, each rise of
// container_oom_events_total as an OOM kill.
//
// 5m: nodewatch's downsampled 5-minute maxima of the working set and
// 5-minute CPU rates, or, on a Prometheus without them, the same computed
// by a range query with a 5-minute step. The memory percentile is then
// taken over 5-minute maxima, never below the raw one: the request can only
// come out higher (safer, a little more reserved), and the peak — the
// limit — is the same. Restarts and OOM kills are the 5-minute windows in
// which the CPU counter reset or the OOM counter rose: read from the
// daemon's sparse aggregates of the counters for the windows it computed
// them for, from the raw counters for the others (readWindows).
//
// The embedded store (a History that is also a seriesReader) is read
// directly through the TSDB's querier, any other through PromQL; both give
// the same series (TestDirectMatchesPromQL). The aggregates' fallback is a
// PromQL range query either way.
func readHistory(ctx context.Context, a History, q historyQuery) (map[seriesKey]*containerSeries, error) {
	var src source = newPromQLSource(a, q)
	if r, ok := a.(seriesReader); ok {
		src = newDirectSource(r.Queryable(), q)
	}
	out := map[seriesKey]*containerSeries{}
	get := func(m labels.Labels) *containerSeries {
		k := seriesKey{m.Get("namespace"), m.Get("pod"), m.Get("container")}
		if k.namespace == "" || k.pod == "" || k.container == "" {
			return nil
		}
		h := out[k]
		if h == nil {
			h = &containerSeries{seriesKey: k}
			out[k] = h
		}
		if kind, name := m.Get("workload_kind"), m.Get("workload"); kind != "" && name != "" {
			h.owner = cluster.Owner{Kind: kind, Name: name}
		}
		return h
	}
	memory := func(l labels.Labels, ps []promql.FPoint) {
		if h := get(l); h != nil {
			h.memory = concat(h.memory, samplesOf(ps))
		}
	}
	if q.resolution == ResolutionRaw {
		if _, err := src.samples(ctx, "container_memory_working_set_bytes", memory); err != nil {
			return nil, err
		}
		if _, err := src.samples(ctx, "container_cpu_usage_seconds_total", func(l labels.Labels, ps []promql.FPoint) {
			if h := get(l); h != nil {
				rates, resets := counterRates(ps)
				h.cpu, h.restarts = concat(h.cpu, rates), concat(h.restarts, resets)
			}
		}); err != nil {
			return nil, err
		}
		if _, err := src.samples(ctx, "container_oom_events_total", func(l labels.Labels, ps []promql.FPoint) {
			if h := get(l); h != nil {
				h.ooms = concat(h.ooms, counterRises(ps))
			}
		}); err != nil {
			return nil, err
		}
	} else {
		cpu := func(l labels.Labels, ps []promql.FPoint) {
			if h := get(l); h != nil {
				h.cpu = concat(h.cpu, samplesOf(ps))
			}
		}
		w := windowsOf(q)
		for _, agg := range []struct {
			aggregate, fallback string
			add                 func(labels.Labels, []promql.FPoint)
		}{
			{"nodewatch:container_memory_working_set_bytes:max5m", "max_over_time(container_memory_working_set_bytes{%s}[5m])", memory},
			{"nodewatch:container_cpu_usage:rate5m", "rate(container_cpu_usage_seconds_total{%s}[5m])", cpu},
		} {
			n, err := src.samples(ctx, agg.aggregate, agg.add)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				continue
			}
			// A Prometheus without nodewatch's aggregates, or a store
			// that has not written them yet.
			expr := fmt.Sprintf(agg.fallback, promQLSelector(q.namespace))
			v, err := a.QueryRange(ctx, expr, w.start, w.end, w.step)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", expr, err)
			}
			m, _ := v.(promql.Matrix)
			for _, s := range sortedMatrix(m) {
				agg.add(s.Metric, s.Floats)
			}
		}
		if err := readWindows(ctx, src, q, "container_cpu_usage_seconds_total", false, func(l labels.Labels, ts []time.Time) {
			if h := get(l); h != nil {
				h.restarts = concat(h.restarts, ts)
			}
		}); err != nil {
			return nil, err
		}
		if err := readWindows(ctx, src, q, "container_oom_events_total", true, func(l labels.Labels, ts []time.Time) {
			if h := get(l); h != nil {
				h.ooms = concat(h.ooms, ts)
			}
		}); err != nil {
			return nil, err
		}
	}
	if err := src.last(ctx, "container_spec_memory_limit_bytes", func(l labels.Labels, v float64) {
		k := seriesKey{l.Get("namespace"), l.Get("pod"), l.Get("container")}
		if h := out[k]; h != nil && v > 0 && !math.IsInf(v, 0) {
			h.limit = max(h.limit, v)
		}
	}); err != nil {
		return nil, fmt.Errorf("reading the memory limits: %w", err)
	}
	for _, h := range out {
		h.memory, h.cpu = dedupe(h.memory), dedupe(h.cpu)
		slices.SortFunc(h.ooms, time.Time.Compare)
		slices.SortFunc(h.restarts, time.Time.Compare)
	}
	return out, nil
}

// source reads the series readHistory converts, one way or another
// (promQLSource, directSource), with the same results: every series in
// label order (so that where two series hold the same container, the
// same one wins), only float samples, no staleness markers.
type source interface {
	// samples calls fn with each series of metric in scope that has
	// samples in (now-since, now], and those samples (fn must not keep the
	// slice), as `metric{...}[since]` at now; it returns how many.
	samples(ctx context.Context, metric string, fn func(labels.Labels, []promql.FPoint)) (int, error)
	// windows calls fn with each counter series of metric in scope and
	// the steps of w at which the 5 minutes up to the step saw it reset
	// (`resets(metric{...}[5m]) > 0`) or, with rose, rise
	// (`increase(metric{...}[5m]) > 0`); series with none are left out.
	windows(ctx context.Context, metric string, rose bool, w steps, fn func(labels.Labels, []time.Time)) error
	// marks returns the times of the samples of metric, a series without
	// a container's labels (history.SparseMarker), in (now-since, now].
	marks(ctx context.Context, metric string) ([]int64, error)
	// last calls fn with each series' last sample in (now-since, now]:
	// `last_over_time(metric{...}[since])` at now.
	last(ctx context.Context, metric string, fn func(labels.Labels, float64)) error
}

// steps are the times a range query is evaluated at.
type steps struct {
	start, end time.Time
	step       time.Duration
}

// windowsOf are the steps of the 5m resolution's range queries: where the
// daemon stores its aggregates, at the end of each complete 5-minute
// window.
func windowsOf(q historyQuery) steps {
	step := max(5*time.Minute, q.since/10000)
	return steps{start: q.now.Add(-q.since).Truncate(step).Add(step), end: q.now.Truncate(step), step: step}
}

// promQLSelector is the label matchers of the containers in scope, in
// PromQL.
func promQLSelector(namespace string) string {
	sel := `container!="",container!="POD"`
	if namespace != "" {
		sel += fmt.Sprintf(`,namespace=%q`, namespace)
	}
	return sel
}

// promQLSource reads the history through PromQL queries.
type promQLSource struct {
	a   History
	q   historyQuery
	sel string // the label matchers
	rng string // the range selector of q.since
}

var _ source = (*promQLSource)(nil)

func newPromQLSource(a History, q historyQuery) *promQLSource {
	return &promQLSource{a: a, q: q, sel: promQLSelector(q.namespace), rng: fmt.Sprintf("[%ds]", int64(q.since.Seconds()))}
}

func (p *promQLSource) samples(ctx context.Context, metric string, fn func(labels.Labels, []promql.FPoint)) (int, error) {
	expr := fmt.Sprintf(`%s{%s}%s`, metric, p.sel, p.rng)
	v, err := p.a.Query(ctx, expr, p.q.now)
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", expr, err)
	}
	m, _ := v.(promql.Matrix)
	for _, s := range sortedMatrix(m) {
		fn(s.Metric, s.Floats)
	}
	return len(m), nil
}

func (p *promQLSource) windows(ctx context.Context, metric string, rose bool, w steps, fn func(labels.Labels, []time.Time)) error {
	f := "resets"
	if rose {
		f = "increase"
	}
	expr := fmt.Sprintf(`%s(%s{%s}[5m]) > 0`, f, metric, p.sel)
	v, err := p.a.QueryRange(ctx, expr, w.start, w.end, w.step)
	if err != nil {
		return fmt.Errorf("query %s: %w", expr, err)
	}
	m, _ := v.(promql.Matrix)
	for _, s := range sortedMatrix(m) {
		fn(s.Metric, timesOf(s.Floats))
	}
	return nil
}

func (p *promQLSource) marks(ctx context.Context, metric string) ([]int64, error) {
	expr := metric + p.rng
	v, err := p.a.Query(ctx, expr, p.q.now)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	m, _ := v.(promql.Matrix)
	var out []int64
	for _, s := range m {
		for _, f := range s.Floats {
			out = append(out, f.T)
		}
	}
	return out, nil
}

func (p *promQLSource) last(ctx context.Context, metric string, fn func(labels.Labels, float64)) error {
	expr := fmt.Sprintf(`last_over_time(%s{%s}%s)`, metric, p.sel, p.rng)
	v, err := p.a.Query(ctx, expr, p.q.now)
	if err != nil {
		return fmt.Errorf("query %s: %w", expr, err)
	}
	vec, _ := v.(promql.Vector)
	for _, s := range vec {
		fn(s.Metric, s.F)
	}
	return nil
}

// sortedMatrix sorts a query's series by their labels (the engine returns
// them in the store's order).
func sortedMatrix(m promql.Matrix) promql.Matrix {
	slices.SortFunc(m, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	return m
}

// concat is append(dst, src...), but src itself where dst is empty: most
// containers come in one series, and a copy of every sample is what the
// recommendations for a whole cluster spend most of their memory on. src
// must be the caller's to give.
func concat[T any](dst, src []T) []T {
	if len(dst) == 0 && len(src) > 0 {
		return src
	}
	return append(dst, src...)
}

func samplesOf(ps []promql.FPoint) []rightsize.Sample {
	out := make([]rightsize.Sample, len(ps))
	for i, p := range ps {
		out[i] = rightsize.Sample{T: time.UnixMilli(p.T), V: p.F}
	}
	return out
}

func timesOf(ps []promql.FPoint) []time.Time {
	out := make([]time.Time, len(ps))
	for i, p := range ps {
		out[i] = time.UnixMilli(p.T)
	}
	return out
}

// counterRates turns a cumulative CPU counter (seconds) into the cores used
// over each interval between samples. A counter going backwards is a
// restart of the container: its time is returned, and that interval gives
// no rate (its usage since the restart is not known).
func counterRates(ps []promql.FPoint) (rates []rightsize.Sample, resets []time.Time) {
	for i := 1; i < len(ps); i++ {
		dt := float64(ps[i].T-ps[i-1].T) / 1000
		dv := ps[i].F - ps[i-1].F
		switch {
		case dv < 0:
			resets = append(resets, time.UnixMilli(ps[i].T))
		case dt > 0:
			rates = append(rates, rightsize.Sample{T: time.UnixMilli(ps[i].T), V: dv / dt})
		}
	}
	return rates, resets
}

// counterRises returns a time for every unit a counter (OOM events) rose
// by between samples; after a reset, its new value counts as rises.
func counterRises(ps []promql.FPoint) []time.Time {
	var out []time.Time
	for i := 1; i < len(ps); i++ {
		rise := ps[i].F - ps[i-1].F
		if rise < 0 {
			rise = ps[i].F
		}
		for range int(math.Round(min(rise, 1000))) {
			out = append(out, time.UnixMilli(ps[i].T))
		}
	}
	return out
}

// dedupe sorts samples by time and keeps one per timestamp (the same
// container can come in two series, e.g. across a relabelling).
func dedupe(s []rightsize.Sample) []rightsize.Sample {
	slices.SortStableFunc(s, func(a, b rightsize.Sample) int { return a.T.Compare(b.T) })
	return slices.CompactFunc(s, func(a, b rightsize.Sample) bool { return a.T.Equal(b.T) })
}

// namePatterns are how controllers name their pods, after the workload's
// name: ReplicaSets of a Deployment add the template hash and a random
// suffix, StatefulSets an ordinal, CronJobs the scheduled time (minutes)
// of the Job.
var namePatterns = map[string]*regexp.Regexp{
	"Deployment":  regexp.MustCompile(`^-[a-z0-9]{1,10}-[a-z0-9]{5}$`),
	"StatefulSet": regexp.MustCompile(`^-[0-9]+$`),
	"CronJob":     regexp.MustCompile(`^-[0-9]+-[a-z0-9]{5}$`),
	"":            regexp.MustCompile(`^-[a-z0-9]{5}$`), // DaemonSet, ReplicaSet, ReplicationController, Job
}

// guessOwner names, among the live workloads of the pod's namespace, the
// one a pod no longer in the cluster belonged to, by the naming
// conventions above: for history without workload labels (a plain
// Prometheus), e.g. the earlier runs of a CronJob. The longest matching
// name wins (web-api over web).
func guessOwner(pod string, known []cluster.Owner) (cluster.Owner, bool) {
	var best cluster.Owner
	for _, o := range known {
		rest, ok := strings.CutPrefix(pod, o.Name)
		if !ok || o.Kind == "Pod" || len(o.Name) <= len(best.Name) {
			continue
		}
		re, ok := namePatterns[o.Kind]
		if !ok {
			re = namePatterns[""]
		}
		if re.MatchString(rest) {
			best = o
		}
	}
	return best, best.Name != ""
}

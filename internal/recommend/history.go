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
// which the CPU counter reset or the OOM counter rose.
func readHistory(ctx context.Context, a History, q historyQuery) (map[seriesKey]*containerSeries, error) {
	sel := `container!="",container!="POD"`
	if q.namespace != "" {
		sel += fmt.Sprintf(`,namespace=%q`, q.namespace)
	}
	rng := fmt.Sprintf("[%ds]", int64(q.since.Seconds()))
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
	instant := func(expr string) (promql.Matrix, error) {
		v, err := a.Query(ctx, expr, q.now)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		m, _ := v.(promql.Matrix)
		return m, nil
	}
	// Range queries are evaluated where the daemon stores its aggregates:
	// at the end of each complete 5-minute window.
	step := max(5*time.Minute, q.since/10000)
	ranged := func(expr string) (promql.Matrix, error) {
		v, err := a.QueryRange(ctx, expr, q.now.Add(-q.since).Truncate(step).Add(step), q.now.Truncate(step), step)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		m, _ := v.(promql.Matrix)
		return m, nil
	}

	if q.resolution == ResolutionRaw {
		m, err := instant(fmt.Sprintf(`container_memory_working_set_bytes{%s}%s`, sel, rng))
		if err != nil {
			return nil, err
		}
		for _, s := range m {
			if h := get(s.Metric); h != nil {
				h.memory = append(h.memory, samplesOf(s.Floats)...)
			}
		}
		if m, err = instant(fmt.Sprintf(`container_cpu_usage_seconds_total{%s}%s`, sel, rng)); err != nil {
			return nil, err
		}
		for _, s := range m {
			if h := get(s.Metric); h != nil {
				rates, resets := counterRates(s.Floats)
				h.cpu, h.restarts = append(h.cpu, rates...), append(h.restarts, resets...)
			}
		}
		if m, err = instant(fmt.Sprintf(`container_oom_events_total{%s}%s`, sel, rng)); err != nil {
			return nil, err
		}
		for _, s := range m {
			if h := get(s.Metric); h != nil {
				h.ooms = append(h.ooms, counterRises(s.Floats)...)
			}
		}
	} else {
		for _, src := range []struct {
			aggregate, fallback string
			cpu                 bool
		}{
			{"nodewatch:container_memory_working_set_bytes:max5m", "max_over_time(container_memory_working_set_bytes{%s}[5m])", false},
			{"nodewatch:container_cpu_usage:rate5m", "rate(container_cpu_usage_seconds_total{%s}[5m])", true},
		} {
			m, err := instant(fmt.Sprintf(`%s{%s}%s`, src.aggregate, sel, rng))
			if err != nil {
				return nil, err
			}
			if len(m) == 0 { // a Prometheus without nodewatch's aggregates
				if m, err = ranged(fmt.Sprintf(src.fallback, sel)); err != nil {
					return nil, err
				}
			}
			for _, s := range m {
				if h := get(s.Metric); h != nil {
					if src.cpu {
						h.cpu = append(h.cpu, samplesOf(s.Floats)...)
					} else {
						h.memory = append(h.memory, samplesOf(s.Floats)...)
					}
				}
			}
		}
		m, err := ranged(fmt.Sprintf(`resets(container_cpu_usage_seconds_total{%s}[5m]) > 0`, sel))
		if err != nil {
			return nil, err
		}
		for _, s := range m {
			if h := get(s.Metric); h != nil {
				h.restarts = append(h.restarts, timesOf(s.Floats)...)
			}
		}
		if m, err = ranged(fmt.Sprintf(`increase(container_oom_events_total{%s}[5m]) > 0`, sel)); err != nil {
			return nil, err
		}
		for _, s := range m {
			if h := get(s.Metric); h != nil {
				h.ooms = append(h.ooms, timesOf(s.Floats)...)
			}
		}
	}
	v, err := a.Query(ctx, fmt.Sprintf(`last_over_time(container_spec_memory_limit_bytes{%s}%s)`, sel, rng), q.now)
	if err != nil {
		return nil, fmt.Errorf("query the memory limits: %w", err)
	}
	vec, _ := v.(promql.Vector)
	for _, s := range vec {
		k := seriesKey{s.Metric.Get("namespace"), s.Metric.Get("pod"), s.Metric.Get("container")}
		if h := out[k]; h != nil && s.F > 0 && !math.IsInf(s.F, 0) {
			h.limit = max(h.limit, s.F)
		}
	}
	for _, h := range out {
		h.memory, h.cpu = dedupe(h.memory), dedupe(h.cpu)
		slices.SortFunc(h.ooms, time.Time.Compare)
		slices.SortFunc(h.restarts, time.Time.Compare)
	}
	return out, nil
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

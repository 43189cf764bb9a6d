package dashboard

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// series is one line of a chart: [Unix milliseconds, value] pairs.
type series struct {
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"`
}

// level is a horizontal line on a chart (a request, a limit, allocatable).
type level struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// marker is a moment on a chart (a restart, an OOM kill, a failure).
type marker struct {
	T     int64  `json:"t"`
	Kind  string `json:"kind"`
	Label string `json:"label"`
}

// chart is what the script draws: series (stacked or not) in Unit, levels,
// markers, and optionally an overlay on a second axis.
type chart struct {
	Unit    string   `json:"unit"`
	Stacked bool     `json:"stacked,omitempty"`
	Series  []series `json:"series"`
	Levels  []level  `json:"levels,omitempty"`
	Markers []marker `json:"markers,omitempty"`
	Overlay *overlay `json:"overlay,omitempty"`
}

type overlay struct {
	Unit   string `json:"unit"`
	Series series `json:"series"`
}

// errNoHistory marks data the page cannot have: the daemon keeps no history.
const noHistory = "no resource history: nodewatch run scrapes none (--scrape-interval 0)"

// engineHistory is a history that lends its PromQL engine and storage
// (history.DB does).
type engineHistory interface {
	Engine() *promql.Engine
	Queryable() storage.Queryable
}

// matrix runs a range query over r.
func (s *server) matrix(ctx context.Context, q string, r timeRange) (promql.Matrix, error) {
	if s.o.History == nil {
		return nil, nil
	}
	if eh, ok := s.o.History.(engineHistory); ok {
		// The engine hands a range result's points back to its pool when the
		// query is closed, and history.DB.QueryRange closes before it
		// returns: the points would be overwritten by the next query. Copy
		// them first.
		qry, err := eh.Engine().NewRangeQuery(ctx, eh.Queryable(), nil, q, r.Start, r.End, r.Step)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		defer qry.Close()
		res := qry.Exec(ctx)
		if res.Err != nil {
			return nil, fmt.Errorf("query %s: %w", q, res.Err)
		}
		m, _ := res.Value.(promql.Matrix)
		out := make(promql.Matrix, len(m))
		for i, sr := range m {
			out[i] = promql.Series{Metric: sr.Metric, Floats: slices.Clone(sr.Floats)}
		}
		return out, nil
	}
	v, err := s.o.History.QueryRange(ctx, q, r.Start, r.End, r.Step)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	m, _ := v.(promql.Matrix)
	return m, nil
}

// vector runs an instant query.
func (s *server) vector(ctx context.Context, q string, at time.Time) (promql.Vector, error) {
	if s.o.History == nil {
		return nil, nil
	}
	v, err := s.o.History.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	vec, _ := v.(promql.Vector)
	return vec, nil
}

// byLabels keys an instant vector's values by the joined label values.
func byLabels(vec promql.Vector, keys ...string) map[string]float64 {
	out := make(map[string]float64, len(vec))
	for _, s := range vec {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = s.Metric.Get(k)
		}
		out[strings.Join(parts, "/")] = s.F
	}
	return out
}

// points converts samples, dropping what JSON cannot carry (NaN, ±Inf).
func points(fs []promql.FPoint) [][2]float64 {
	out := make([][2]float64, 0, len(fs))
	for _, p := range fs {
		if math.IsNaN(p.F) || math.IsInf(p.F, 0) {
			continue
		}
		out = append(out, [2]float64{float64(p.T), p.F})
	}
	return out
}

// topSeries keeps the k series with the highest peaks and sums the rest
// into one named other: a node's 110 pods become k+1 bands.
func topSeries(m promql.Matrix, name func(promql.Series) string, k int, other string) []series {
	type peaked struct {
		s    promql.Series
		peak float64
	}
	all := make([]peaked, len(m))
	for i, s := range m {
		p := math.Inf(-1)
		for _, f := range s.Floats {
			p = max(p, f.F)
		}
		all[i] = peaked{s, p}
	}
	slices.SortFunc(all, func(a, b peaked) int {
		if a.peak != b.peak {
			if a.peak > b.peak {
				return -1
			}
			return 1
		}
		return strings.Compare(name(a.s), name(b.s))
	})
	var out []series
	rest := map[int64]float64{}
	for i, p := range all {
		if i < k {
			out = append(out, series{Name: name(p.s), Points: points(p.s.Floats)})
			continue
		}
		for _, f := range p.s.Floats {
			if !math.IsNaN(f.F) && !math.IsInf(f.F, 0) {
				rest[f.T] += f.F
			}
		}
	}
	if len(rest) > 0 {
		ts := make([]int64, 0, len(rest))
		for t := range rest {
			ts = append(ts, t)
		}
		slices.Sort(ts)
		o := series{Name: fmt.Sprintf("%s (%d)", other, len(all)-k)}
		for _, t := range ts {
			o.Points = append(o.Points, [2]float64{float64(t), rest[t]})
		}
		out = append(out, o)
	}
	return out
}

// rateWindow is the window rates are taken over: two steps, and never less
// than two minutes, so that a 30 s scrape interval still gives samples.
func rateWindow(r timeRange) string {
	w := max(2*r.Step, 2*time.Minute)
	return fmt.Sprintf("%ds", int64(w.Seconds()))
}

// quote makes a PromQL string literal; names from URLs go through it.
func quote(s string) string { return fmt.Sprintf("%q", s) }

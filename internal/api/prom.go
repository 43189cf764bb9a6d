package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// History is the resource history the Prometheus-compatible API reads.
type History interface {
	Query(ctx context.Context, q string, at time.Time) (parser.Value, error)
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error)
	Series(ctx context.Context, start, end time.Time, matchers ...[]*labels.Matcher) ([]labels.Labels, error)
	LabelNames(ctx context.Context, start, end time.Time) ([]string, error)
}

// Limits bound what requests to the query API may cost together; a query's
// own samples and time are bounded by the History (history.Bounded).
type Limits struct {
	// MaxConcurrency queries run at once; more wait for a slot, at most
	// QueueWait, then get 503.
	MaxConcurrency int
	QueueWait      time.Duration
	// MaxSeries caps /series and /labels answers (a smaller limit=
	// parameter wins); a cut answer carries a warning, as Prometheus'.
	MaxSeries int
	// MaxBody caps a form-encoded POST.
	MaxBody int64
}

// DefaultLimits are the daemon's defaults.
var DefaultLimits = Limits{MaxConcurrency: 4, QueueWait: 10 * time.Second, MaxSeries: 10_000, MaxBody: 1 << 20}

// PromHandlers adds Prometheus' HTTP API subset — /api/v1/query,
// /api/v1/query_range, /api/v1/series, /api/v1/labels — so Grafana can use
// nodewatch as a Prometheus data source. GET and form-encoded POST work.
// Every request is bounded by lim: a refused one gets Prometheus' error
// JSON (503 when the slots are taken, 422 when the query is too costly).
func PromHandlers(mux *http.ServeMux, h History, now func() time.Time, lim Limits) {
	p := parser.NewParser(parser.Options{})
	slots := make(chan struct{}, max(lim.MaxConcurrency, 1))
	handle := func(path string, f http.HandlerFunc) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if lim.MaxBody > 0 {
				r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBody)
			}
			if err := r.ParseForm(); err != nil {
				promError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("reading the request: %w", err))
				return
			}
			wait := time.NewTimer(max(lim.QueueWait, time.Millisecond))
			defer wait.Stop()
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-wait.C:
				promError(w, http.StatusServiceUnavailable, "unavailable", fmt.Errorf("%d queries are running, the most at once; try again", cap(slots)))
				return
			case <-r.Context().Done():
				return
			}
			f(w, r)
		})
	}
	handle("/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		at, err := parseTime(r.FormValue("time"), now())
		if err != nil {
			promError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("time: %w", err))
			return
		}
		v, err := h.Query(r.Context(), r.FormValue("query"), at)
		promResult(w, v, err)
	})
	handle("/api/v1/query_range", func(w http.ResponseWriter, r *http.Request) {
		start, err1 := parseTime(r.FormValue("start"), time.Time{})
		end, err2 := parseTime(r.FormValue("end"), time.Time{})
		step, err3 := parseDuration(r.FormValue("step"))
		if err := errors.Join(err1, err2, err3); err != nil || start.IsZero() || end.IsZero() {
			promError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("start, end and step are required: %w", err))
			return
		}
		if step <= 0 || end.Sub(start)/step > 11000 {
			promError(w, http.StatusBadRequest, "bad_data", errors.New("step must be positive and give at most 11,000 points"))
			return
		}
		v, err := h.QueryRange(r.Context(), r.FormValue("query"), start, end, step)
		promResult(w, v, err)
	})
	handle("/api/v1/series", func(w http.ResponseWriter, r *http.Request) {
		start, end, err := rangeOf(r, now())
		if err != nil {
			promError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		if len(r.Form["match[]"]) == 0 {
			promError(w, http.StatusBadRequest, "bad_data", errors.New("no match[] parameter"))
			return
		}
		ms, err := p.ParseMetricSelectors(r.Form["match[]"])
		if err != nil {
			promError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		limit, err := limitOf(r, lim.MaxSeries)
		if err != nil {
			promError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		sets, err := h.Series(r.Context(), start, end, ms...)
		if err != nil {
			promError(w, http.StatusInternalServerError, "internal", err)
			return
		}
		sets, warn := truncate(sets, limit)
		out := make([]map[string]string, len(sets))
		for i, l := range sets {
			out[i] = l.Map()
		}
		promData(w, out, warn...)
	})
	handle("/api/v1/labels", func(w http.ResponseWriter, r *http.Request) {
		start, end, err := rangeOf(r, now())
		if err != nil {
			promError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		limit, err := limitOf(r, lim.MaxSeries)
		if err != nil {
			promError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		names, err := h.LabelNames(r.Context(), start, end)
		if err != nil {
			promError(w, http.StatusInternalServerError, "internal", err)
			return
		}
		names, warn := truncate(names, limit)
		if names == nil {
			names = []string{}
		}
		promData(w, names, warn...)
	})
}

// limitOf reads the limit= parameter, capped at most (0: no cap).
func limitOf(r *http.Request, most int) (int, error) {
	limit := most
	if s := r.FormValue("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("limit: %q is not a non-negative integer", s)
		}
		if n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit, nil
}

// truncate keeps the first limit items, with Prometheus' warning when it cut.
func truncate[T any](xs []T, limit int) ([]T, []string) {
	if limit <= 0 || len(xs) <= limit {
		return xs, nil
	}
	return xs[:limit], []string{"results truncated due to limit"}
}

func rangeOf(r *http.Request, now time.Time) (time.Time, time.Time, error) {
	start, err1 := parseTime(r.FormValue("start"), time.Unix(0, 0))
	end, err2 := parseTime(r.FormValue("end"), now)
	return start, end, errors.Join(err1, err2)
}

func promResult(w http.ResponseWriter, v parser.Value, err error) {
	if err != nil {
		var pe parser.ParseErrors
		if errors.As(err, &pe) {
			promError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		var timeout promql.ErrQueryTimeout
		if errors.As(err, &timeout) || errors.Is(err, context.DeadlineExceeded) {
			promError(w, http.StatusServiceUnavailable, "timeout", err)
			return
		}
		promError(w, http.StatusUnprocessableEntity, "execution", err)
		return
	}
	promData(w, map[string]any{"resultType": v.Type(), "result": v})
}

func promData(w http.ResponseWriter, data any, warnings ...string) {
	w.Header().Set("Content-Type", "application/json")
	body := map[string]any{"status": "success", "data": data}
	if len(warnings) > 0 {
		body["warnings"] = warnings
	}
	_ = json.NewEncoder(w).Encode(body)
}

func promError(w http.ResponseWriter, code int, typ string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": typ, "error": err.Error()})
}

// parseTime reads RFC 3339 or Unix seconds, as Prometheus does.
func parseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, fmt.Errorf("%q is not a time", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339 or Unix seconds", s)
	}
	return t, nil
}

func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return d, nil
}

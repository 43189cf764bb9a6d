package history

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Remote is the history of a Prometheus-compatible store the team already
// runs (Prometheus, Thanos, VictoriaMetrics, Mimir), read over its HTTP API
// (`--prometheus-url`). It answers the same calls as DB, so the daemon's
// API, dashboard and analyses work unchanged; the store's own scrape of the
// kubelets (cAdvisor's container_memory_working_set_bytes, ...) is the data.
type Remote struct {
	api promv1.API
	url string
}

// NewRemote reads the store at rawURL (http or https; a path prefix such as
// Thanos' or Mimir's /prometheus is kept). rt may be nil.
func NewRemote(rawURL string, rt http.RoundTripper) (*Remote, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q: want http(s)://host[:port][/prefix]", redactURL(rawURL))
	}
	c, err := api.NewClient(api.Config{Address: rawURL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %s: %w", redactURL(rawURL), err)
	}
	return &Remote{api: promv1.NewAPI(c), url: redactURL(rawURL)}, nil
}

// redactURL keeps a URL's scheme and host for messages: credentials can
// sit in its user info, path (a tenant's token) or query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted URL>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

func (r *Remote) wrap(what string, err error) error {
	var ue *url.Error // it names the whole URL, query and all
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return fmt.Errorf("%s at %s: %w", what, r.url, err)
}

// Query evaluates an instant query on the store.
func (r *Remote) Query(ctx context.Context, q string, at time.Time) (parser.Value, error) {
	v, _, _, err := r.api.Query(ctx, q, at)
	if err != nil {
		return nil, r.wrap("query", err)
	}
	return fromModel(v)
}

// QueryRange evaluates a range query on the store.
func (r *Remote) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	v, _, _, err := r.api.QueryRange(ctx, q, promv1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, r.wrap("range query", err)
	}
	return fromModel(v)
}

// Series lists the series matching any of the selectors.
func (r *Remote) Series(ctx context.Context, start, end time.Time, matchers ...[]*labels.Matcher) ([]labels.Labels, error) {
	sets, _, _, err := r.api.Series(ctx, selectors(matchers), start, end)
	if err != nil {
		return nil, r.wrap("series", err)
	}
	out := make([]labels.Labels, len(sets))
	for i, s := range sets {
		out[i] = fromMetric(model.Metric(s))
	}
	return out, nil
}

// LabelNames lists the label names in the range.
func (r *Remote) LabelNames(ctx context.Context, start, end time.Time) ([]string, error) {
	names, _, _, err := r.api.LabelNames(ctx, nil, start, end)
	if err != nil {
		return nil, r.wrap("label names", err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out, nil
}

func selectors(ms [][]*labels.Matcher) []string {
	out := make([]string, len(ms))
	for i, set := range ms {
		parts := make([]string, len(set))
		for j, m := range set {
			parts[j] = m.String()
		}
		out[i] = "{" + strings.Join(parts, ",") + "}"
	}
	return out
}

func fromMetric(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m))
	for k, v := range m {
		b.Add(string(k), string(v))
	}
	b.Sort()
	return b.Labels()
}

// fromModel converts client_golang's result into the PromQL engine's, as
// DB returns it. Native histograms are not carried.
func fromModel(v model.Value) (parser.Value, error) {
	switch v := v.(type) {
	case model.Vector:
		out := make(promql.Vector, len(v))
		for i, s := range v {
			out[i] = promql.Sample{Metric: fromMetric(s.Metric), T: int64(s.Timestamp), F: float64(s.Value)}
		}
		return out, nil
	case model.Matrix:
		out := make(promql.Matrix, len(v))
		for i, s := range v {
			pts := make([]promql.FPoint, len(s.Values))
			for j, p := range s.Values {
				pts[j] = promql.FPoint{T: int64(p.Timestamp), F: float64(p.Value)}
			}
			out[i] = promql.Series{Metric: fromMetric(s.Metric), Floats: pts}
		}
		sort.Sort(out)
		return out, nil
	case *model.Scalar:
		return promql.Scalar{T: int64(v.Timestamp), V: float64(v.Value)}, nil
	case *model.String:
		return promql.String{T: int64(v.Timestamp), V: v.Value}, nil
	case nil:
		return promql.Vector{}, nil
	}
	return nil, fmt.Errorf("unexpected result type %T", v)
}

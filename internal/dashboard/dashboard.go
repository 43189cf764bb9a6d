package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/store"
)

// Cluster is the informer cache as the dashboard reads it.
type Cluster interface {
	Nodes() []*corev1.Node
	Node(name string) (*corev1.Node, bool)
	Lease(node string) (*coordinationv1.Lease, bool)
	Pods() []*cluster.Pod
	PodsOn(node string) []*cluster.Pod
	Pod(namespace, name string) (*cluster.Pod, bool)
	Owners() cluster.Owners
}

// Incidents is the incident history in the data dir.
type Incidents interface {
	Incidents() ([]incident.Incident, error)
}

// Events are the Kubernetes events kept in the data dir.
type Events interface {
	Events(kind, namespace, name string, since time.Time) ([]store.Event, error)
}

// History is the resource history, queried with PromQL.
type History interface {
	Query(ctx context.Context, q string, at time.Time) (parser.Value, error)
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error)
}

// Options configure the dashboard.
type Options struct {
	Cluster   Cluster
	Incidents Incidents
	// Events may be nil (no events shown); History may be nil when the
	// daemon keeps no resource history (charts say so).
	Events  Events
	History History
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Leak judges growing containers; zero means leak.DefaultOptions().
	Leak leak.Options
	// MaxPoints bounds the points of every series a page gets (default 240).
	MaxPoints int
	// MaxRange is the longest time range a page may ask for (default 14 days).
	MaxRange time.Duration
	// Policies lists Namespaces, LimitRanges and ResourceQuotas for the
	// audit page (kube.ListPolicies); nil audits without them, and the page
	// says which checks were skipped. A listing is reused for PolicyTTL
	// (default 30 s).
	Policies  PolicyLister
	PolicyTTL time.Duration
	// RecommendTTL is how long a recommendations report is reused as it
	// is (default 1 minute); an older one is shown while a fresh one is
	// computed. RecommendWait is how long a view with no report waits for
	// one (default 800 ms) before it says the report is being computed.
	RecommendTTL  time.Duration
	RecommendWait time.Duration
}

//go:embed static
var staticFS embed.FS

//go:embed page.html.tmpl
var pageTmpl string

var page = template.Must(template.New("page").Parse(pageTmpl))

type server struct {
	o        Options
	policies policyCache
	recs     reportCache
}

// Dashboard is the dashboard's handler (Handler).
type Dashboard struct {
	http.Handler
	s *server
}

// WarmRecommendations computes the report the recommendations page shows
// when viewed without parameters — every namespace, the last 7 days — into
// the page's cache, so that no view of it waits: a first view is served it,
// later ones it or a fresher one (see reportCache). A warm cache, not a
// faster report: a view during the warm-up says the report is being
// computed. Call it once the cluster cache has synced; it returns when the
// report is kept, or with ctx's error. Without a history it does nothing.
func (d *Dashboard) WarmRecommendations(ctx context.Context) error {
	if d.s.o.History == nil {
		return nil
	}
	p, err := d.s.defaultReport()
	if err != nil {
		return err
	}
	_, err = d.s.report(ctx, p, 0)
	return err
}

// Close ends the reports being computed in the background and waits for
// them: call it before closing the history they read.
func (d *Dashboard) Close() { d.s.recs.close() }

// Handler returns the dashboard: pages at /, /nodes/{name},
// /pods/{namespace}/{name}, /incidents and /incidents/{id} (the link alerts
// carry when --external-url is set), /audit and /recommendations, assets
// under /ui/static/ and the pages' JSON under /api/ui/. Mount it at "/".
func Handler(o Options) (*Dashboard, error) {
	var errs []error
	if o.Cluster == nil {
		errs = append(errs, errors.New("dashboard: Cluster must be set"))
	}
	if o.Incidents == nil {
		errs = append(errs, errors.New("dashboard: Incidents must be set"))
	}
	if o.Leak == (leak.Options{}) {
		o.Leak = leak.DefaultOptions()
	}
	if err := o.Leak.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("dashboard: leak: %w", err))
	}
	if o.MaxPoints < 0 || o.MaxRange < 0 || o.PolicyTTL < 0 || o.RecommendTTL < 0 || o.RecommendWait < 0 {
		errs = append(errs, errors.New("dashboard: MaxPoints, MaxRange, PolicyTTL, RecommendTTL and RecommendWait must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxPoints == 0 {
		o.MaxPoints = 240
	}
	if o.MaxRange == 0 {
		o.MaxRange = 14 * 24 * time.Hour
	}
	if o.PolicyTTL == 0 {
		o.PolicyTTL = 30 * time.Second
	}
	if o.RecommendTTL == 0 {
		o.RecommendTTL = time.Minute
	}
	if o.RecommendWait == 0 {
		o.RecommendWait = 800 * time.Millisecond
	}
	s := &server{o: o, recs: reportCache{log: o.Log}}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.page("overview", "Overview"))
	mux.HandleFunc("GET /nodes/{name}", s.page("node", "Node"))
	mux.HandleFunc("GET /pods/{namespace}/{name}", s.page("pod", "Pod"))
	mux.HandleFunc("GET /incidents", s.page("incidents", "Incidents"))
	mux.HandleFunc("GET /incidents/{id}", s.page("incident", "Incident"))
	mux.HandleFunc("GET /audit", s.page("audit", "Audit"))
	mux.HandleFunc("GET /recommendations", s.page("recommendations", "Recommendations"))
	mux.HandleFunc("GET /api/ui/overview", s.api(s.overview))
	mux.HandleFunc("GET /api/ui/nodes/{name}", s.api(s.node))
	mux.HandleFunc("GET /api/ui/pods/{namespace}/{name}", s.api(s.pod))
	mux.HandleFunc("GET /api/ui/incidents", s.api(s.incidents))
	mux.HandleFunc("GET /api/ui/incidents/{id}", s.api(s.incident))
	mux.HandleFunc("GET /api/ui/audit", s.api(s.auditPage))
	mux.HandleFunc("GET /api/ui/recommendations", s.api(s.recommendationsPage))
	return &Dashboard{Handler: secure(mux), s: s}, nil
}

// secure sets the headers that keep the pages' data inert: scripts only
// from the daemon itself, no framing, no content sniffing.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// shell is what the HTML page carries: which page, and the path values the
// script fetches its data with. html/template escapes each of them.
type shell struct {
	Page, Title                      string
	Node, Namespace, Pod, IncidentID string
}

func (s *server) page(kind, title string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := shell{Page: kind, Title: title, Node: r.PathValue("name"), Namespace: r.PathValue("namespace"), IncidentID: r.PathValue("id")}
		switch kind {
		case "node":
			d.Title = "Node " + d.Node
		case "pod":
			d.Node, d.Pod = "", r.PathValue("name")
			d.Title = "Pod " + d.Namespace + "/" + d.Pod
		case "incident":
			d.Title = "Incident " + d.IncidentID
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := page.Execute(w, d); err != nil {
			s.o.Log.Warn("rendering a dashboard page", "page", kind, "err", err)
		}
	}
}

// httpError is an error with the status to answer it with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func notFound(format string, a ...any) error {
	return &httpError{code: http.StatusNotFound, msg: fmt.Sprintf(format, a...)}
}

func (s *server) api(fn func(*http.Request, timeRange) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rng, err := s.parseRange(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		v, err := fn(r, rng)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				writeError(w, he.code, he.msg)
				return
			}
			s.o.Log.Warn("dashboard data", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		// encoding/json writes <, > and & as \u003c, \u003e and \u0026.
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// timeRange is the window a page shows, and the step that keeps every
// series within MaxPoints.
type timeRange struct {
	Start, End time.Time
	Step       time.Duration
	// Explicit is set when the request chose the range (?range=).
	Explicit bool
}

// rangeJSON is a timeRange as the script reads it: Unix milliseconds.
type rangeJSON struct {
	Start int64   `json:"start"`
	End   int64   `json:"end"`
	Step  float64 `json:"stepSeconds"`
}

func (r timeRange) json() rangeJSON {
	return rangeJSON{Start: r.Start.UnixMilli(), End: r.End.UnixMilli(), Step: r.Step.Seconds()}
}

// parseRange reads ?range= (a Go duration, or days such as 7d; default 1h)
// and ?end= (Unix seconds; default now).
func (s *server) parseRange(r *http.Request) (timeRange, error) {
	now := s.o.Now()
	out := timeRange{End: now}
	width := time.Hour
	if v := r.URL.Query().Get("range"); v != "" {
		d, err := parseWidth(v)
		if err != nil {
			return out, err
		}
		if d < time.Minute || d > s.o.MaxRange {
			return out, fmt.Errorf("range: %s is outside 1m … %s", v, s.o.MaxRange)
		}
		width, out.Explicit = d, true
	}
	if v := r.URL.Query().Get("end"); v != "" {
		sec, err := strconv.ParseFloat(v, 64)
		if err != nil || sec <= 0 {
			return out, fmt.Errorf("end: %q is not Unix seconds", v)
		}
		out.End = time.UnixMilli(int64(sec * 1000))
		if out.End.After(now) {
			out.End = now
		}
	}
	s.setWidth(&out, width)
	return out, nil
}

// setWidth sets the start and a step that gives at most MaxPoints points.
func (s *server) setWidth(r *timeRange, width time.Duration) {
	r.Start = r.End.Add(-width)
	r.Step = time.Duration(math.Ceil(width.Seconds()/float64(s.o.MaxPoints-1))) * time.Second
}

func parseWidth(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("range: %q is not a duration such as 15m, 6h or 7d", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("range: %q is not a duration such as 15m, 6h or 7d", v)
	}
	return d, nil
}

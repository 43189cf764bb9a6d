package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/api"
	"github.com/nodewatch/nodewatch/internal/history"
)

type promAnswer struct {
	Status    string   `json:"status"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
	Data      json.RawMessage
}

func post(t *testing.T, srv *httptest.Server, path string, form url.Values) (int, promAnswer) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // the test reads what it needs first
	var a promAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s: answer is not Prometheus JSON: %v", path, err)
	}
	return resp.StatusCode, a
}

// TestCostlyQueryRefused plays a page that makes the operator's browser
// post one PromQL query: with Prometheus' default of 50 million samples,
// count_over_time(vector(1)[30d:50ms]) grew the daemon by 3.5 GB in 9 s on
// an empty store. Bounded, it is refused with Prometheus' error JSON
// within the timeout, and the heap stays far below 512 MB.
func TestCostlyQueryRefused(t *testing.T) {
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	mux := http.NewServeMux()
	api.PromHandlers(mux, db.Bounded(history.DefaultQueryLimits, nil), time.Now, api.DefaultLimits)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	start := time.Now()
	code, a := post(t, srv, "/api/v1/query", url.Values{"query": {"count_over_time(vector(1)[30d:50ms])"}})
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if code != http.StatusUnprocessableEntity || a.Status != "error" || a.ErrorType != "execution" || !strings.Contains(a.Error, "too many steps") {
		t.Errorf("answer %d %+v, want 422 execution: too many steps", code, a)
	}
	if took > history.DefaultQueryLimits.Timeout {
		t.Errorf("the refusal took %s, more than the query timeout", took)
	}
	grew := int64(peak.Load()) - int64(before.HeapAlloc) //nolint:gosec // G115: heap sizes fit in int64
	t.Logf("refused in %s; heap grew by at most %d MB", took.Round(time.Millisecond), grew>>20)
	if grew > 512<<20 {
		t.Errorf("the heap grew by %d MB for one refused query", grew>>20)
	}
	// A week at a minute's resolution, and a subquery without a step
	// (a minute, as Prometheus' default evaluation interval), still work.
	for _, q := range []string{"max_over_time(vector(1)[7d:1m])", "max_over_time(vector(1)[1h:])"} {
		if code, a := post(t, srv, "/api/v1/query", url.Values{"query": {q}}); code != 200 || a.Status != "success" {
			t.Errorf("%s: %d %+v, want it answered", q, code, a)
		}
	}
	// A range query's steps count too: 11,000 points with a 100-step subquery each.
	form := url.Values{"query": {"max_over_time(vector(1)[100m:1m])"}, "start": {"0"}, "end": {"660000"}, "step": {"60"}}
	if code, a := post(t, srv, "/api/v1/query_range", form); code != http.StatusUnprocessableEntity || !strings.Contains(a.Error, "too many steps") {
		t.Errorf("query_range of 11,001 steps × 101: %d %+v, want refused", code, a)
	}
}

// slowHistory holds every query until released.
type slowHistory struct {
	running atomic.Int32
	release chan struct{}
}

func (s *slowHistory) Query(ctx context.Context, _ string, _ time.Time) (parser.Value, error) {
	s.running.Add(1)
	defer s.running.Add(-1)
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return parser.Value(nil), context.Canceled
}

func (s *slowHistory) QueryRange(ctx context.Context, q string, _, _ time.Time, _ time.Duration) (parser.Value, error) {
	return s.Query(ctx, q, time.Time{})
}

func (s *slowHistory) Series(context.Context, time.Time, time.Time, ...[]*labels.Matcher) ([]labels.Labels, error) {
	var out []labels.Labels
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		out = append(out, labels.FromStrings("__name__", "m", "pod", n))
	}
	return out, nil
}

func (s *slowHistory) LabelNames(context.Context, time.Time, time.Time) ([]string, error) {
	return []string{"__name__", "container", "namespace", "node", "pod"}, nil
}

// TestConcurrencyAndResultLimits: queries beyond MaxConcurrency wait for a
// slot and get 503 when none frees in time; /series and /labels answers
// are cut at MaxSeries (or a smaller limit=) with Prometheus' warning; an
// oversized POST body is refused.
func TestConcurrencyAndResultLimits(t *testing.T) {
	h := &slowHistory{release: make(chan struct{})}
	mux := http.NewServeMux()
	lim := api.Limits{MaxConcurrency: 2, QueueWait: 200 * time.Millisecond, MaxSeries: 3, MaxBody: 1 << 10}
	api.PromHandlers(mux, h, time.Now, lim)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { post(t, srv, "/api/v1/query", url.Values{"query": {"up"}}) })
	}
	for h.running.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	code, a := post(t, srv, "/api/v1/query", url.Values{"query": {"up"}})
	if code != http.StatusServiceUnavailable || a.ErrorType != "unavailable" {
		t.Errorf("a third query while two run: %d %+v, want 503", code, a)
	}
	close(h.release)
	wg.Wait()

	code, a = post(t, srv, "/api/v1/series", url.Values{"match[]": {"m"}})
	var series []map[string]string
	_ = json.Unmarshal(a.Data, &series)
	if code != 200 || len(series) != 3 || len(a.Warnings) != 1 || a.Warnings[0] != "results truncated due to limit" {
		t.Errorf("series: %d, %d series, warnings %q; want 3 and the warning", code, len(series), a.Warnings)
	}
	code, a = post(t, srv, "/api/v1/labels", url.Values{"limit": {"2"}})
	var names []string
	_ = json.Unmarshal(a.Data, &names)
	if code != 200 || len(names) != 2 || len(a.Warnings) != 1 {
		t.Errorf("labels limit=2: %d %q %q", code, names, a.Warnings)
	}
	code, a = post(t, srv, "/api/v1/query", url.Values{"query": {strings.Repeat("x", 2<<10)}})
	if code != http.StatusBadRequest || a.ErrorType != "bad_data" {
		t.Errorf("a 2 KiB body over a 1 KiB cap: %d %+v, want 400", code, a)
	}
}

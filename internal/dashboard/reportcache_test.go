package dashboard

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/recommend"
)

// computer is a report computation the test lets finish: each call takes
// the next number and waits for a release (or its context).
type computer struct {
	calls   chan int
	release chan error
	n       int
}

func newComputer() *computer {
	return &computer{calls: make(chan int, 10), release: make(chan error, 10)}
}

func (c *computer) compute(ctx context.Context) (recommend.Report, error) {
	c.n++
	c.calls <- c.n
	select {
	case err := <-c.release:
		return recommend.Report{UnmatchedPods: c.n}, err
	case <-ctx.Done():
		return recommend.Report{}, ctx.Err()
	}
}

// TestReportCacheServesStale: a fresh report is reused; an older one, of
// any age, is served at once while one refresh runs in the background, and
// the refreshed report replaces it; a failed refresh keeps it.
func TestReportCacheServesStale(t *testing.T) {
	var c reportCache
	defer c.close()
	cm := newComputer()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	get := func(at time.Time) cached {
		t.Helper()
		r, err := c.get(t.Context(), "k", time.Minute, 0, at, cm.compute)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cm.release <- nil
	if got := get(t0); got.report.UnmatchedPods != 1 || got.refreshing || got.pending != nil || <-cm.calls != 1 {
		t.Fatalf("first view: %+v", got)
	}
	if got := get(t0.Add(30 * time.Second)); got.report.UnmatchedPods != 1 || got.refreshing || len(cm.calls) != 0 {
		t.Fatalf("a fresh report recomputed: %+v", got)
	}
	// Older: served at once, one refresh however many views come.
	for range 3 {
		if got := get(t0.Add(2 * time.Minute)); got.report.UnmatchedPods != 1 || !got.refreshing {
			t.Fatalf("an older report: %+v, want it at once, refreshing", got)
		}
	}
	if <-cm.calls != 2 {
		t.Fatal("no refresh")
	}
	cm.release <- nil
	waitReport(t, func() int { return get(t0.Add(2*time.Minute + time.Second)).report.UnmatchedPods }, 2)
	if len(cm.calls) != 0 {
		t.Errorf("%d more computations, want the one refresh", len(cm.calls))
	}
	// A day later: still at once, with a refresh; that one fails, and the
	// report stays.
	if got := get(t0.Add(24 * time.Hour)); got.report.UnmatchedPods != 2 || !got.refreshing || <-cm.calls != 3 {
		t.Fatalf("a day-old report: %+v", got)
	}
	cm.release <- errors.New("history unreadable")
	waitIdle(t, &c)
	if got := get(t0.Add(24*time.Hour + time.Second)); got.report.UnmatchedPods != 2 || !got.refreshing || <-cm.calls != 4 {
		t.Errorf("after a failed refresh: %+v, want the old report and a new try", got)
	}
	cm.release <- nil
}

// TestReportCacheWaitsAtMostTheWait: with no report, a view waits at most
// the wait, then says it is pending; every view shares the one
// computation, and the first view after it gets the report. A first
// computation that fails is an error to the view waiting for it.
func TestReportCacheWaitsAtMostTheWait(t *testing.T) {
	var c reportCache
	defer c.close()
	cm := newComputer()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		got, err := c.get(t.Context(), "k", time.Minute, 20*time.Millisecond, t0.Add(time.Duration(i)*time.Second), cm.compute)
		if err != nil || got.pending == nil || !got.pending.started.Equal(t0) {
			t.Fatalf("view %d without a report: %+v %v, want pending since %s", i, got, err, t0)
		}
	}
	if <-cm.calls != 1 || len(cm.calls) != 0 {
		t.Fatal("want one computation for the three views")
	}
	cm.release <- nil
	waitReport(t, func() int {
		got, _ := c.get(t.Context(), "k", time.Minute, 20*time.Millisecond, t0.Add(3*time.Second), cm.compute)
		return got.report.UnmatchedPods
	}, 1)

	cm.release <- errors.New("history unreadable")
	if _, err := c.get(t.Context(), "other", time.Minute, 0, t0, cm.compute); err == nil || err.Error() != "history unreadable" {
		t.Errorf("a failed first computation: %v", err)
	}
	// The view's context ends its wait, not the computation.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.get(ctx, "third", time.Minute, 0, t0, cm.compute); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled view: %v", err)
	}
	<-cm.calls
	<-cm.calls
	cm.release <- nil
	waitReport(t, func() int {
		got, _ := c.get(t.Context(), "third", time.Minute, time.Second, t0, cm.compute)
		return got.report.UnmatchedPods
	}, 3)
}

// close ends a computation under way and waits for it.
func TestReportCacheClose(t *testing.T) {
	var c reportCache
	cm := newComputer()
	got, err := c.get(t.Context(), "k", time.Minute, time.Millisecond, time.Now(), cm.compute)
	if err != nil || got.pending == nil {
		t.Fatalf("%+v %v", got, err)
	}
	<-cm.calls
	done := make(chan struct{})
	go func() { c.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not end the computation")
	}
	if len(c.entries) != 0 {
		t.Errorf("a cancelled computation kept a report: %v", c.entries)
	}
}

func waitReport(t *testing.T, get func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for get() != want {
		if time.Now().After(deadline) {
			t.Fatalf("report %d never came", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitIdle waits until no computation runs.
func waitIdle(t *testing.T, c *reportCache) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.running)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a computation never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A report that took long to compute is refreshed at most every ten times
// that long, however often it is viewed.
func TestReportCacheCostlyReportRefreshesLess(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	e := cachedReport{at: t0, took: 50 * time.Second}
	for _, tc := range []struct {
		age   time.Duration
		fresh bool
	}{{30 * time.Second, true}, {2 * time.Minute, true}, {499 * time.Second, true}, {500 * time.Second, false}, {-time.Second, false}} {
		if got := e.fresh(time.Minute, t0.Add(tc.age)); got != tc.fresh {
			t.Errorf("a report that took 50 s, %s old: fresh %v, want %v", tc.age, got, tc.fresh)
		}
	}
	if (cachedReport{at: t0, took: time.Second}).fresh(time.Minute, t0.Add(61*time.Second)) {
		t.Error("a report that took 1 s is fresh past the one-minute TTL")
	}
}

// TestReportCacheBoundsAndAbandons plays a page that asks for ever new
// parameters (a namespace per request): at most maxRunning computations
// are in flight or queued, the next is refused; a computation nobody
// waits for or asks about is cancelled, freeing its place.
func TestReportCacheBoundsAndAbandons(t *testing.T) {
	c := reportCache{abandonAfter: 100 * time.Millisecond, checkEvery: 10 * time.Millisecond}
	defer c.close()
	cm := newComputer()
	for i := range maxRunning {
		got, err := c.get(t.Context(), fmt.Sprint("ns-", i), time.Minute, time.Millisecond, time.Now(), cm.compute)
		if err != nil || got.pending == nil {
			t.Fatalf("report %d: %+v %v, want it pending", i, got, err)
		}
	}
	if _, err := c.get(t.Context(), "ns-more", time.Minute, time.Millisecond, time.Now(), cm.compute); !errors.Is(err, errBusy) {
		t.Fatalf("a report past %d running: %v, want errBusy", maxRunning, err)
	}
	// Nobody asks again: all are cancelled, and new reports can start.
	waitIdle(t, &c)
	if len(c.entries) != 0 {
		t.Errorf("an abandoned computation kept a report: %v", c.entries)
	}
	// A view that waits keeps its computation alive past abandonAfter.
	cm2 := newComputer()
	done := make(chan error, 1)
	go func() {
		_, err := c.get(t.Context(), "ns-waited", time.Minute, 0, time.Now(), cm2.compute)
		done <- err
	}()
	<-cm2.calls
	time.Sleep(300 * time.Millisecond)
	cm2.release <- nil
	if err := <-done; err != nil {
		t.Errorf("a computation a view waited for: %v", err)
	}
}

// The report for a pinned end is one cache entry however ?end= is written.
func TestReportKeyCanonical(t *testing.T) {
	at := time.Unix(1764547200, 0)
	a := reportParams{end: at, pinned: "1764547200", since: time.Hour}
	b := reportParams{end: at.Add(300 * time.Millisecond), pinned: "2025-12-01T00:00:00.3Z", since: time.Hour}
	if a.key() != b.key() {
		t.Errorf("%q != %q", a.key(), b.key())
	}
}

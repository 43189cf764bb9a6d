package dashboard

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nodewatch/nodewatch/internal/recommend"
)

// reportCache keeps recommendation reports: they are read from days of
// history and change slowly, and computing one for every namespace of a
// large cluster is the heaviest thing the dashboard does (at 30,000 pods
// 0.7 s over 3 hours, about 20 s over a week: BENCHMARKS.md).
//
// A report younger than the TTL — or than refreshEvery times what it took
// to compute, if longer — is served as it is. An older one is served
// at once, saying so, while a fresh one is computed in the background: a
// week of history sized a minute or a day ago still says what to set. So
// a view waits only when there is no report for its parameters at all, and
// then for at most the wait: a longer computation goes on in the
// background, and the view says it is pending (the page asks again until
// the report is there). The daemon computes the default report at start
// (Dashboard.WarmRecommendations), so its views never wait.
//
// One report is computed at a time, so two open tabs never double the
// memory it takes, and one computation per parameters is in flight: every
// view of them shares it. At most maxRunning computations are in flight or
// queued (a request for parameters beyond them is refused, not queued: a
// page that asks for ever new namespaces must not pile up work), and one
// nobody waits for or has asked about for abandonAfter is cancelled.
type reportCache struct {
	log *slog.Logger
	// base is the computations' context, ended by close.
	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	entries map[string]cachedReport
	running map[string]*reportRun
	// computing holds while a report is computed.
	computing sync.Mutex
	// abandonAfter and checkEvery are the defaults below, shorter in tests.
	abandonAfter, checkEvery time.Duration
}

// maxRunning bounds the computations in flight or queued.
const maxRunning = 4

// abandonAfter: a computation no view has asked about for this long (a
// pending page asks again every few seconds) and that no view waits for is
// cancelled.
const abandonAfter = time.Minute

// errBusy refuses a report when maxRunning are computed already.
var errBusy = errors.New("too many recommendation reports are being computed; try again in a minute")

// maxCachedReports bounds the reports kept (namespaces × ranges × options).
const maxCachedReports = 8

// refreshEvery bounds the refreshes of a costly report: one that took 20 s
// (a week of 30,000 pods) is fresh for 200 s, so a page left open, which
// asks every minute, keeps at most a tenth of a core busy.
const refreshEvery = 10

type cachedReport struct {
	at     time.Time
	report recommend.Report
	// took is how long the report took to compute.
	took time.Duration
}

// fresh reports whether the report is served without a refresh at now.
func (e cachedReport) fresh(ttl time.Duration, now time.Time) bool {
	age := now.Sub(e.at)
	return age >= 0 && age < max(ttl, refreshEvery*e.took)
}

// reportRun is one computation of a report, shared by every view that
// waits for it.
type reportRun struct {
	started time.Time
	done    chan struct{}
	// report and err are set before done closes.
	report recommend.Report
	err    error
	// waiters are the views waiting for it now, asked when one last asked
	// (under reportCache.mu).
	waiters int
	asked   time.Time
}

// cached is what the cache has for a view.
type cached struct {
	report recommend.Report
	// refreshing: the report is older than the TTL and a fresh one is on
	// its way.
	refreshing bool
	// pending, when set, is the computation still running after the
	// wait: there is no report yet.
	pending *reportRun
}

// get returns the report for key (see reportCache): compute makes a new
// one, under the cache's context (not ctx: it may go on after get has
// returned). wait bounds how long a view with no report waits for it (≤ 0:
// until it is there, or ctx ends).
func (c *reportCache) get(ctx context.Context, key string, ttl, wait time.Duration, now time.Time, compute func(context.Context) (recommend.Report, error)) (cached, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && e.fresh(ttl, now) {
		c.mu.Unlock()
		return cached{report: e.report}, nil
	}
	run, err := c.start(key, now, compute)
	if err != nil {
		c.mu.Unlock()
		if ok { // a stale report beats none
			return cached{report: e.report}, nil
		}
		return cached{}, err
	}
	run.asked = time.Now()
	if ok {
		c.mu.Unlock()
		return cached{report: e.report, refreshing: true}, nil
	}
	run.waiters++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		run.waiters--
		run.asked = time.Now()
		c.mu.Unlock()
	}()
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-run.done:
		return cached{report: run.report}, run.err
	case <-timeout:
		return cached{pending: run}, nil
	case <-ctx.Done():
		return cached{}, ctx.Err()
	}
}

// start returns the computation of key in flight, or starts one. c.mu is
// held.
func (c *reportCache) start(key string, now time.Time, compute func(context.Context) (recommend.Report, error)) (*reportRun, error) {
	if r := c.running[key]; r != nil {
		return r, nil
	}
	if len(c.running) >= maxRunning {
		return nil, errBusy
	}
	if c.running == nil {
		c.running = map[string]*reportRun{}
	}
	if c.base == nil {
		c.base, c.stop = context.WithCancel(context.Background())
	}
	r := &reportRun{started: now, done: make(chan struct{}), asked: time.Now()}
	c.running[key] = r
	ctx, cancel := context.WithCancel(c.base)
	c.wg.Go(func() { c.watch(ctx, cancel, r) })
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		c.computing.Lock()
		t0 := time.Now() // the work's real duration, whatever the clock
		var rep recommend.Report
		err := ctx.Err() // abandoned while queued
		if err == nil {
			rep, err = compute(ctx)
		}
		took := time.Since(t0)
		c.computing.Unlock()
		c.mu.Lock()
		r.report, r.err = rep, err
		delete(c.running, key)
		if err == nil {
			c.keep(key, cachedReport{at: now, report: rep, took: took})
		} else if c.log != nil {
			// A view waiting for it is told; a refresh keeps the older
			// report, and the next view tries again.
			c.log.Warn("computing recommendations for the dashboard", "err", err)
		}
		c.mu.Unlock()
		close(r.done)
	}()
	return r, nil
}

// watch cancels r once nobody waits for it and nobody asked about it for
// abandonAfter.
func (c *reportCache) watch(ctx context.Context, cancel context.CancelFunc, r *reportRun) {
	tick := time.NewTicker(cmp.Or(c.checkEvery, 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		abandoned := r.waiters == 0 && time.Since(r.asked) > cmp.Or(c.abandonAfter, abandonAfter)
		c.mu.Unlock()
		if abandoned {
			if c.log != nil {
				c.log.Info("a recommendation report nobody asks about any more is cancelled")
			}
			cancel()
			return
		}
	}
}

// keep stores a report, dropping the oldest past maxCachedReports. c.mu
// is held.
func (c *reportCache) keep(key string, e cachedReport) {
	if c.entries == nil {
		c.entries = map[string]cachedReport{}
	}
	if _, ok := c.entries[key]; !ok {
		for len(c.entries) >= maxCachedReports {
			oldest := ""
			for k, e := range c.entries {
				if oldest == "" || e.at.Before(c.entries[oldest].at) {
					oldest = k
				}
			}
			delete(c.entries, oldest)
		}
	}
	c.entries[key] = e
}

// close ends the computations under way and waits for them: the history
// they read may close next.
func (c *reportCache) close() {
	c.mu.Lock()
	if c.stop != nil {
		c.stop()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

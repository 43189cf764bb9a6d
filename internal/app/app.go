// Package app is the nodewatch daemon (`nodewatch run`): it watches the
// cluster through informers, evaluates the detection rules on every node
// change and on a tick, keeps incidents in the data dir and delivers their
// notifications through the durable outbox, and serves /healthz, /readyz,
// /metrics and the JSON API. Only cmd/nodewatch touches signals: Run stops
// when its context ends, so the daemon runs the same inside a test.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/klog/v2"

	"github.com/nodewatch/nodewatch/internal/analyze/cause"
	"github.com/nodewatch/nodewatch/internal/api"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/dashboard"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/history"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/notify/outbox"
	"github.com/nodewatch/nodewatch/internal/notify/slack"
	"github.com/nodewatch/nodewatch/internal/store"
)

// App is a configured daemon.
type App struct {
	cfg     config.Config
	client  kubernetes.Interface
	log     *slog.Logger
	now     func() time.Time
	sinks   []outbox.Sink
	kubelet KubeletAuth
}

// KubeletAuth is how the daemon proves itself to kubelets and checks them.
type KubeletAuth struct {
	// Tokens give the bearer token (the service account's, re-read as it
	// rotates); nil sends none.
	Tokens oauth2.TokenSource
	// CA verifies the kubelets' serving certificates (PEM; nil: the
	// system's roots).
	CA []byte
}

// KubeletAuthFrom takes the kubelet credentials from the API server's
// client config, as metrics-server does: its token (from its file, re-read
// as bound tokens rotate) and the cluster's CA — or caFile when set
// (--kubelet-certificate-authority).
func KubeletAuthFrom(rc *rest.Config, caFile string) (KubeletAuth, error) {
	var k KubeletAuth
	switch {
	case rc.BearerTokenFile != "":
		k.Tokens = transport.NewCachedFileTokenSource(rc.BearerTokenFile)
	case rc.BearerToken != "":
		k.Tokens = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: rc.BearerToken})
	}
	var err error
	switch {
	case caFile != "":
		k.CA, err = os.ReadFile(caFile) //nolint:gosec // G304: --kubelet-certificate-authority, the operator's path
	case len(rc.CAData) > 0:
		k.CA = rc.CAData
	case rc.CAFile != "":
		k.CA, err = os.ReadFile(rc.CAFile)
	}
	if err != nil {
		return k, fmt.Errorf("reading the kubelets' CA: %w", err)
	}
	return k, nil
}

// New validates cfg and builds the sinks; Run starts the daemon.
func New(cfg config.Config, client kubernetes.Interface, kubelet KubeletAuth, log *slog.Logger, now func() time.Time) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	a := &App{cfg: cfg, client: client, kubelet: kubelet, log: log, now: now}
	if cfg.LogNotifications {
		a.sinks = append(a.sinks, outbox.Sink{Name: "log", Notifier: notify.LogNotifier{Log: log}})
	}
	if cfg.Slack.WebhookURL != "" {
		n, err := slack.New(cfg.Slack.WebhookURL, nil)
		if err != nil {
			return nil, err
		}
		a.sinks = append(a.sinks, outbox.Sink{Name: "slack", Notifier: n, Rate: cfg.Slack.RatePerSecond})
	}
	extra, err := extraSinks(cfg)
	if err != nil {
		return nil, err
	}
	a.sinks = append(a.sinks, extra...)
	return a, nil
}

// Run runs the daemon until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	klog.SetSlogLogger(a.log.With("component", "client-go"))
	names := make([]string, len(a.sinks))
	for i, s := range a.sinks {
		names[i] = s.Name
	}
	db, err := store.Open(a.cfg.DataDir, names, false)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			a.log.Error("closing the state store", "err", err)
		}
	}()

	var hist *history.DB
	var histAPI api.History
	var histErr error
	if u := a.cfg.History.PrometheusURL; u != "" {
		r, err := history.NewRemote(u, nil)
		if err != nil {
			return err
		}
		histAPI = r
		a.log.Info("reading the resource history from a Prometheus-compatible store; not scraping kubelets", "url", notify.Redact(u))
	} else if a.cfg.History.ScrapeInterval > 0 {
		hist, err = history.Open(a.cfg.DataDir, history.Options{
			Retention: time.Duration(a.cfg.History.Retention), MaxBytes: a.cfg.History.RetentionBytes,
			MinFree: a.cfg.History.MinFreeBytes, Log: a.log,
		})
		if err != nil {
			// Degrade, never die: one bad block must not stop the alerts.
			a.log.Error("the resource history cannot be opened; alerting without it", "err", err)
			histErr, hist = err, nil
		} else {
			defer func() {
				if err := hist.Close(); err != nil {
					a.log.Error("closing the resource history", "err", err)
				}
			}()
			histAPI = hist
		}
	}

	changed := newChangedNodes()
	events := newEventKeeper(db, a.log, time.Duration(a.cfg.History.Retention), a.now)
	events.incidentRetention = time.Duration(a.cfg.IncidentRetention)
	cache := kube.NewCache(a.client, changed.add, events.offer)
	var sender *outbox.Sender
	mgr, err := incident.NewManager(db, clusterView{Cache: cache, db: db, now: a.now}, incident.Options{
		GroupWindow: time.Duration(a.cfg.GroupWindow), ExternalURL: a.cfg.ExternalURL, Now: a.now, Log: a.log,
		Committed:   func() { sender.Wake() },
		Enrich:      a.enricher(histAPI),
		KubeletLogs: a.cfg.KubeletLogLines > 0,
	})
	if err != nil {
		return err
	}
	mgr.Observe(selfScope, historyFindings(a.cfg.DataDir, histErr, a.now()), nil)
	m := newMetrics(func() map[string]int {
		p, _ := db.Pending()
		return p
	}, names, func() int { return len(mgr.Open()) }, cache.LastEvent)
	sender = outbox.New(db, a.sinks, outbox.Options{Now: a.now, Log: a.log, Metrics: m})

	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
	}
	mux := api.Handler(db, cache.Synced, m.reg)
	if histAPI != nil {
		// Queries from outside are bounded; the daemon's own analyses
		// read the store directly.
		queries := histAPI
		if hist != nil {
			queries = hist.Bounded(history.QueryLimits{
				MaxSamples: a.cfg.Query.MaxSamples, Timeout: time.Duration(a.cfg.Query.Timeout), MaxSteps: history.DefaultQueryLimits.MaxSteps,
			}, a.log)
		}
		lim := api.DefaultLimits
		lim.MaxConcurrency = a.cfg.Query.MaxConcurrency
		api.PromHandlers(mux, queries, a.now, lim)
	}
	ui, err := dashboard.Handler(dashboard.Options{Cluster: cache, Incidents: db, Events: db, History: histAPI, Now: a.now, Log: a.log,
		// The audit page lists these live (get/list only, as `nodewatch
		// audit` does) rather than keeping informers on them.
		Policies: func(ctx context.Context, ns string, s *cluster.Snapshot) error {
			return kube.ListPolicies(ctx, a.client, ns, s)
		}})
	if err != nil {
		return err
	}
	defer ui.Close() // before the history its reports read
	mux.Handle("/", ui)
	guarded, err := dashboard.Guard(dashboard.GuardOptions{Listen: a.cfg.Listen, ExternalURL: a.cfg.ExternalURL, TokenRequired: a.cfg.AuthToken != ""},
		dashboard.RequireToken(a.cfg.AuthToken, mux))
	if err != nil {
		_ = ln.Close()
		return err
	}
	// Every phase of a connection is bounded, so that slow or idle clients
	// cannot hold connections and their goroutines for good. WriteTimeout
	// runs from the end of the request's headers to the end of the answer,
	// so it bounds the handler's work too: minutes, because a query_range
	// over weeks of history or a report computed cold can take that long.
	// Headers are capped at 64 KiB (Go's default is 1 MiB): no client of
	// these APIs sends more than a few KiB.
	srv := &http.Server{Handler: guarded, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP server", "err", err)
		}
	})
	wg.Go(func() { sender.Run(runCtx) })
	wg.Go(func() {
		mgr.Run(runCtx, func(err error) {
			m.stateErrors.Inc()
			a.log.Error("saving incidents", "err", err)
		})
	})
	wg.Go(func() { events.run(runCtx) })
	if a.cfg.KubeletLogLines > 0 {
		wg.Go(func() { readKubeletLogs(runCtx, a.client, mgr, a.cfg.KubeletLogLines) })
	}
	for _, s := range a.sinks {
		if s.Name == "alertmanager" {
			wg.Go(func() { a.keepAlive(runCtx, mgr, s.Notifier) })
		}
	}
	a.log.Info("nodewatch running", "listen", ln.Addr().String(), "data_dir", a.cfg.DataDir, "sinks", names)

	cache.Start(runCtx)
	if err := cache.WaitForSync(runCtx); err != nil {
		cancel()
		_ = srv.Close()
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The first list decoded every object in full before the transforms
	// slimmed them: give that memory back now rather than over minutes, and
	// every minute from then on (one forced collection a minute costs tens
	// of milliseconds; the runtime's own scavenger returns memory slowly).
	debug.FreeOSMemory()
	wg.Go(func() { releaseMemory(runCtx, time.Minute) })
	a.log.Info("informers synced", "nodes", len(cache.Nodes()))
	if hist != nil {
		// The recommendations page's default report, computed once now so
		// that its first view is served from the page's cache: a warm
		// cache, not a faster report (BENCHMARKS.md). Not from a remote
		// Prometheus: a week of every container's series at each restart
		// is a load its owners did not ask for; its first view is told
		// the report is being computed instead.
		wg.Go(func() {
			if err := ui.WarmRecommendations(runCtx); err != nil && runCtx.Err() == nil {
				a.log.Warn("computing the recommendations page's default report", "err", err)
			}
		})
	}
	if hist != nil {
		c, err := newCollector(a, cache, hist, m.reg)
		if err != nil {
			return err
		}
		c.observe = func(scope string, f []detect.Finding) { mgr.Observe(scope, f, nil) }
		if u := a.cfg.History.RemoteWriteURL; u != "" {
			w, err := c.forward(u, m.reg)
			if err != nil {
				return err
			}
			wg.Go(func() { w.Run(runCtx) })
		}
		wg.Go(func() { c.run(runCtx) })
	}
	if histAPI != nil {
		wg.Go(func() { a.proactive(runCtx, mgr, histAPI, cache, db, m) })
	}
	a.loop(runCtx, cache, mgr, changed, m)

	a.log.Info("shutting down")
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	_ = srv.Shutdown(shutdown)
	cancel()
	wg.Wait()
	if err := mgr.Flush(); err != nil {
		a.log.Error("saving state at shutdown", "err", err)
	}
	return nil
}

// loop evaluates the rules: a node's at once when it or its Lease changes,
// everything on every tick.
func (a *App) loop(ctx context.Context, cache *kube.Cache, mgr *incident.Manager, changed *changedNodes, m *metrics) {
	rules := a.cfg.DetectRules()
	nodes := detect.NewNodes(rules, cache)
	workloads := detect.NewWorkloads(rules, cache)
	tick := time.NewTicker(time.Duration(a.cfg.EvaluationInterval))
	defer tick.Stop()
	flush := func() {
		if err := mgr.Flush(); err != nil {
			m.stateErrors.Inc()
			a.log.Error("saving incidents", "err", err)
		}
	}
	all := func() {
		now := a.now()
		changed.take() // evaluated below with the rest
		mgr.Observe("node/", nodes.Evaluate(now), nil)
		f, reports := workloads.Evaluate(now)
		mgr.Observe("workload/", f, reports)
		flush()
	}
	all()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed.wake:
			now := a.now()
			for _, name := range changed.take() {
				mgr.Observe(detect.NodeScope(name), nodes.EvaluateNode(name, now), nil)
			}
			flush()
		case <-tick.C:
			all()
		}
	}
}

// changedNodes collects the nodes whose Node or Lease changed since the
// loop last looked: at 1,000 nodes a Lease renews every 10 ms, and each
// costs one node's rules.
type changedNodes struct {
	mu    sync.Mutex
	names map[string]struct{}
	wake  chan struct{}
}

func newChangedNodes() *changedNodes {
	return &changedNodes{names: map[string]struct{}{}, wake: make(chan struct{}, 1)}
}

// add is called from informer goroutines; it never blocks.
func (c *changedNodes) add(name string) {
	c.mu.Lock()
	c.names[name] = struct{}{}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *changedNodes) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.names))
	for n := range c.names {
		out = append(out, n)
	}
	clear(c.names)
	return out
}

// releaseMemory returns the heap's free pages to the OS every period.
func releaseMemory(ctx context.Context, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			debug.FreeOSMemory()
		}
	}
}

// enricher adds to incidents what the history and the API server know:
// a node failure's likely cause, a newly failing workload's log tails. It
// runs off the detection path (incident.Options.Enrich): a slow or failing
// history costs the alert its cause, never its timing.
func (a *App) enricher(h api.History) func(context.Context, incident.Incident, time.Time) incident.Enrichment {
	return func(ctx context.Context, inc incident.Incident, at time.Time) incident.Enrichment {
		var e incident.Enrichment
		if inc.Node != "" && h != nil {
			c, err := cause.Analyze(ctx, h, inc.Node, at, inc.Pods, cause.DefaultOptions().WithMinHistory(time.Duration(a.cfg.History.CauseMinHistory)))
			if err != nil {
				a.log.Warn("explaining a node failure from the history", "node", inc.Node, "err", err)
			}
			e.Cause = c
		}
		if inc.Details != nil {
			e.LogTails = logTails(ctx, a.client, inc.Details, a.cfg.LogTailExcludeNamespaces)
		}
		return e
	}
}

// NodewatchHistoryUnavailable is the rule of the daemon's alert about a
// history it could not open.
const NodewatchHistoryUnavailable = "NodewatchHistoryUnavailable"

// selfScope holds the daemon's findings about its own history; the
// collector's write failures share it.
const selfScope = writeScope

// historyFindings is the alert for a history that could not be opened
// (err nil: none, which resolves one left open by an earlier start).
func historyFindings(dataDir string, err error, now time.Time) []detect.Finding {
	if err == nil {
		return nil
	}
	dir := filepath.Join(dataDir, "tsdb")
	return []detect.Finding{{
		Key: selfScope + "history-unavailable", Rule: NodewatchHistoryUnavailable, Severity: detect.Warning,
		Reason: "HistoryUnavailable", Since: now,
		Message: fmt.Sprintf("nodewatch cannot open its resource history in %s (%v). It alerts on nodes and workloads as usual, "+
			"without likely causes, leak warnings, recommendations or charts. To start a new history, move %s aside and restart nodewatch.", dir, err, dir),
	}}
}

// keepAlive re-sends the open incidents' firing alerts every minute, as
// Prometheus does: Alertmanager resolves an alert nobody repeats once its
// endsAt passes. Re-sends are idempotent, so they skip the outbox; a failed
// one is simply tried again a minute later.
func (a *App) keepAlive(ctx context.Context, mgr *incident.Manager, n notify.Notifier) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, m := range mgr.FiringMessages() {
			if _, err := n.Notify(ctx, m); err != nil {
				a.log.Warn("re-sending a firing alert to Alertmanager", "incident", m.IncidentID, "err", err)
			}
		}
	}
}

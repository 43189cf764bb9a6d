package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/history"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/remotewrite"
)

// collector scrapes the kubelets into the history on every interval.
type collector struct {
	cfg      *App
	cache    *kube.Cache
	db       *history.DB
	scraper  *collect.Scraper
	log      *slog.Logger
	duration prometheus.Histogram
	errors   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	stored   prometheus.Counter
	// observe, if set, takes the collector's own findings (the history
	// cannot be written) after every cycle: the incident manager's Observe.
	observe func(scope string, findings []detect.Finding)
	// writeErr is the history's last write failure (nil once writes work
	// again): a full disk becomes an alert, not just a log line.
	writeErr atomic.Pointer[writeFailure]
	// remote, when set, forwards every cycle over remote write.
	remote *remotewrite.Writer
	// failing holds the nodes whose last scrape failed, to log changes
	// rather than every failure.
	failing map[string]bool
	// stamp is the last cycle's sample timestamp (see stampFor).
	stamp time.Time
}

// stampTolerance: a cycle that starts this close to its schedule is
// stamped exactly on it, as Prometheus aligns its scrape timestamps. A TSDB
// chunk stores a timestamp spaced like the one before in one bit, one that
// is a millisecond off in sixteen: this halves the history on disk.
const stampTolerance = 100 * time.Millisecond

// stampFor returns the timestamp for a cycle starting at now: one interval
// after the last when now is within stampTolerance of that, else now. A
// clock that went back is logged: the samples it stamps land in the past.
func (c *collector) stampFor(now time.Time, interval time.Duration) time.Time {
	now = now.Truncate(time.Millisecond)
	if last := c.stamp; !last.IsZero() {
		if want := last.Add(interval); now.Sub(want).Abs() <= stampTolerance {
			now = want
		} else if now.Before(last) {
			c.log.Warn("the clock went back; samples are stamped with the new time", "by", last.Sub(now), "last", last, "now", now)
		}
	}
	c.stamp = now
	return now
}

func newCollector(a *App, cache *kube.Cache, db *history.DB, reg *prometheus.Registry) (*collector, error) {
	h := a.cfg.History
	scraper, err := collect.NewScraper(collect.Options{
		Timeout: h.ScrapeTimeoutOrDefault(), Workers: h.Workers, InsecureTLS: h.KubeletInsecureTLS,
		CA: a.kubelet.CA, Tokens: a.kubelet.Tokens, Log: a.log,
	})
	if err != nil {
		return nil, err
	}
	c := &collector{
		cfg: a, cache: cache, db: db, log: a.log.With("component", "collector"), failing: map[string]bool{},
		scraper: scraper,
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nodewatch_scrape_cycle_seconds", Help: "Wall time of one scrape of every kubelet.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 10),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_scrape_errors_total", Help: "Kubelet scrapes that failed, by node.",
		}, []string{"node"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_scrape_rejected_samples_total", Help: "Samples refused (NaN, Inf, negative, oversized labels), by reason.",
		}, []string{"reason"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodewatch_history_samples_appended_total", Help: "Samples written to the resource history.",
		}),
	}
	reg.MustRegister(c.duration, c.errors, c.rejected, c.stored)
	return c, nil
}

type writeFailure struct {
	err   error
	since time.Time
}

// writeFinding is the alert for a history that cannot be written (a full
// disk, say): the daemon keeps running and answering queries on what it has.
func (c *collector) writeFinding() []detect.Finding {
	f := c.writeErr.Load()
	if f == nil {
		return nil
	}
	return []detect.Finding{{
		Key: writeScope + "history", Rule: HistoryWriteFailing, Severity: detect.Warning, Reason: "HistoryWriteFailing", Since: f.since,
		Message: fmt.Sprintf("nodewatch cannot write its resource history (%v); scraping goes on, queries answer from what is stored", f.err),
	}}
}

// HistoryWriteFailing is the rule of writeFinding.
const HistoryWriteFailing = "HistoryWriteFailing"

// writeScope holds the daemon's own findings about itself.
const writeScope = "nodewatch/"

// forward sets up remote write to rawURL, counted in reg; Run it.
func (c *collector) forward(rawURL string, reg *prometheus.Registry) (*remotewrite.Writer, error) {
	samples := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nodewatch_remote_write_samples_total", Help: "Samples forwarded over remote write, by result (sent, dropped).",
	}, []string{"result"})
	reg.MustRegister(samples)
	w, err := remotewrite.New(rawURL, remotewrite.Options{
		Log:     c.log.With("component", "remote-write"),
		Sent:    func(n int) { samples.WithLabelValues("sent").Add(float64(n)) },
		Dropped: func(n int) { samples.WithLabelValues("dropped").Add(float64(n)) },
	})
	c.remote = w
	return w, err
}

// run scrapes until ctx ends.
func (c *collector) run(ctx context.Context) {
	interval := time.Duration(c.cfg.cfg.History.ScrapeInterval)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		c.cycle(ctx)
		if c.observe != nil {
			c.observe(writeScope, c.writeFinding())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *collector) cycle(ctx context.Context) {
	start := time.Now()
	h := c.cfg.cfg.History
	now := c.stampFor(c.cfg.now(), time.Duration(h.ScrapeInterval))
	prefs := make([]corev1.NodeAddressType, len(h.KubeletAddressTypes))
	for i, t := range h.KubeletAddressTypes {
		prefs[i] = corev1.NodeAddressType(t)
	}
	targets := collect.Targets(c.cache.Nodes(), prefs, h.KubeletScheme)
	owners := c.cache.Owners()
	results := c.scraper.Scrape(ctx, targets, now, func(ns, pod string) labels.Labels {
		p, ok := c.cache.Pod(ns, pod)
		if !ok {
			return labels.EmptyLabels()
		}
		o := owners.Resolve(p)
		return labels.FromStrings("workload_kind", o.Kind, "workload", o.Name)
	})
	var batch []collect.Sample
	for _, r := range results {
		up := 0.0
		if r.Err != nil {
			up = 1
			c.errors.WithLabelValues(r.Node).Inc()
			if !c.failing[r.Node] {
				c.log.Warn("scrape failed (logged again when it recovers)", "node", r.Node, "err", r.Err, "after", r.Duration.Round(time.Millisecond))
			}
			c.failing[r.Node] = true
		} else if c.failing[r.Node] {
			c.log.Info("scrape recovered", "node", r.Node)
			delete(c.failing, r.Node)
		}
		for reason, n := range r.Rejected {
			c.rejected.WithLabelValues(reason).Add(float64(n))
			c.log.Warn("samples refused", "node", r.Node, "reason", reason, "count", n)
		}
		batch = append(batch, r.Samples...)
		// The scrape-error series is history too: a node that stopped
		// answering shows in the same queries as its memory.
		batch = append(batch, collect.Sample{
			Labels: labels.FromStrings("__name__", "nodewatch_scrape_error", "node", r.Node), T: now.UnixMilli(), V: up,
		})
	}
	if c.remote != nil {
		c.remote.Enqueue(batch)
	}
	res, err := c.db.Append(ctx, batch)
	switch was := c.writeErr.Load(); {
	case err != nil && was == nil:
		c.log.Error("writing the history (queries keep working; logged again when writes work)", "err", err)
		c.writeErr.Store(&writeFailure{err: err, since: now})
	case err != nil:
		c.writeErr.Store(&writeFailure{err: err, since: was.since})
	case was != nil:
		c.log.Info("writing the history works again", "failing_for", now.Sub(was.since).Round(time.Second))
		c.writeErr.Store(nil)
	}
	c.stored.Add(float64(res.Appended))
	if err == nil { // else nothing new to aggregate: Downsample catches up once writes work
		if _, err := c.db.Downsample(ctx, now); err != nil {
			c.log.Error("downsampling the history (raw samples are kept)", "err", err)
		}
	}
	c.duration.Observe(time.Since(start).Seconds())
	c.log.Debug("scrape cycle", "nodes", len(targets), "samples", res.Appended, "duplicates", res.Duplicates,
		"out_of_order", res.OutOfOrder, "took", time.Since(start).Round(time.Millisecond))
}

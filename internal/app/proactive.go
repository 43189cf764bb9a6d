package app

import (
	"context"
	"time"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/store"
)

// proactive evaluates the history rules — leaking workloads, leaks about to
// hit a limit or fill a node, thrashing nodes — and feeds them to the
// incident manager, so they alert through the same pipeline, deduplicated.
// It runs every minute (more often for short leak windows).
func (a *App) proactive(ctx context.Context, mgr *incident.Manager, h detect.HistoryQuerier, cache *kube.Cache, db *store.DB, m *metrics) {
	rules := a.cfg.HistoryRules()
	every := min(time.Minute, max(rules.LeakWindow/10, 5*time.Second))
	// One History for the daemon's life: it keeps each container's points
	// between passes, so a pass reads only what the last minute added.
	r := detect.NewHistory(rules, h, historyState{c: cache, db: db})
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		evalCtx, cancel := context.WithTimeout(ctx, every)
		findings, err := r.Evaluate(evalCtx, a.now())
		cancel()
		if err != nil {
			// Keep the open incidents as they are: a history that cannot be
			// read says nothing about leaks.
			a.log.Warn("evaluating the history rules", "err", err)
			continue
		}
		mgr.Observe(detect.HistoryScope, findings, nil)
		if err := mgr.Flush(); err != nil {
			m.stateErrors.Inc()
			a.log.Error("saving incidents", "err", err)
		}
	}
}

// historyState is the cluster as the history rules read it: the informer
// cache and the events kept in the data dir.
type historyState struct {
	c  *kube.Cache
	db *store.DB
}

func (s historyState) Nodes() []cluster.Node {
	nodes := s.c.Nodes()
	out := make([]cluster.Node, len(nodes))
	for i, n := range nodes {
		out[i] = cluster.NodeFrom(n)
	}
	return out
}

func (s historyState) Pods() []*cluster.Pod   { return s.c.Pods() }
func (s historyState) Owners() cluster.Owners { return s.c.Owners() }

func (s historyState) NodeEvents(node string, since time.Time) []detect.NodeEvent {
	evs, _ := s.db.Events("Node", "", node, since) // none when unreadable: no SystemOOM evidence
	out := make([]detect.NodeEvent, len(evs))
	for i, e := range evs {
		out[i] = detect.NodeEvent{Time: e.Time, Reason: e.Reason, Message: e.Message}
	}
	return out
}

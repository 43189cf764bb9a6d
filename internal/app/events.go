package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/store"
)

// eventKeeper writes node and pod events to the data dir in batches, and
// prunes those older than the history's retention.
type eventKeeper struct {
	in chan store.Event
	// stopped is closed when run returns, so offer never blocks forever.
	stopped   chan struct{}
	db        *store.DB
	log       *slog.Logger
	retention time.Duration
	// incidentRetention is how long resolved incidents, delivered keys
	// and dead letters are kept (see store.Prune).
	incidentRetention time.Duration
	now               func() time.Time
}

// DefaultIncidentRetention keeps a quarter of incidents: enough to see a
// pattern come back, bounded for a daemon that runs for years.
const DefaultIncidentRetention = 90 * 24 * time.Hour

func newEventKeeper(db *store.DB, log *slog.Logger, retention time.Duration, now func() time.Time) *eventKeeper {
	return &eventKeeper{in: make(chan store.Event, 4096), stopped: make(chan struct{}), db: db, log: log, retention: retention,
		incidentRetention: DefaultIncidentRetention, now: now}
}

// Bounds on what waits in memory for the data dir: a disk that stays
// full must not grow the daemon.
const (
	maxEventBatch   = 10_000
	maxEventMessage = 1024
)

// offer queues an event. A full queue (a relist hands on tens of thousands
// at once) makes it wait: the events' reflector has a goroutine of its own,
// and a dropped event would be gone from the incident's evidence.
func (k *eventKeeper) offer(e *corev1.Event) {
	if !worthKeeping(e) {
		return
	}
	t := e.LastTimestamp.Time
	if t.IsZero() {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.FirstTimestamp.Time
	}
	msg := e.Message
	if len(msg) > maxEventMessage {
		msg = strings.ToValidUTF8(msg[:maxEventMessage], "") + "…"
	}
	se := store.Event{UID: string(e.UID), Kind: e.InvolvedObject.Kind, Namespace: e.InvolvedObject.Namespace,
		Name: e.InvolvedObject.Name, Time: t.UTC(), Type: e.Type, Reason: e.Reason, Message: msg, Count: e.Count}
	select {
	case k.in <- se:
	case <-k.stopped:
	}
}

// routinePodReasons are the Normal pod events of every healthy rollout —
// at 1,000 nodes the scheduler's "Scheduled" alone are 30,000 — which say
// nothing about a failure. Every node event, every Warning and the other
// Normal pod events (Killing, TaintManagerEviction, Preempted, ...) are kept.
var routinePodReasons = map[string]bool{
	"Scheduled": true, "Pulling": true, "Pulled": true, "Created": true, "Started": true,
	"SuccessfulCreate": true, "SuccessfulDelete": true, "ScalingReplicaSet": true, "SuccessfulAttachVolume": true,
}

func worthKeeping(e *corev1.Event) bool {
	return e.InvolvedObject.Kind == "Node" || e.Type != corev1.EventTypeNormal || !routinePodReasons[e.Reason]
}

func (k *eventKeeper) run(ctx context.Context) {
	flush := time.NewTicker(time.Second)
	prune := time.NewTicker(time.Hour)
	defer flush.Stop()
	defer prune.Stop()
	defer close(k.stopped)
	var batch []store.Event
	save := func() {
		if len(batch) == 0 {
			return
		}
		if err := k.db.SaveEvents(batch); err != nil {
			k.log.Error("keeping events (will retry)", "events", len(batch), "err", err)
			return
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case e := <-k.in:
			// Node events are few and are an incident's evidence: saved
			// at once, so a node back within a second still has them.
			if batch = append(batch, e); len(batch) >= 1000 || e.Kind == "Node" {
				save()
			}
			if len(batch) > maxEventBatch { // the saves keep failing
				k.log.Error("the data dir takes no events; dropping the oldest", "dropped", len(batch)-maxEventBatch)
				batch = append(batch[:0], batch[len(batch)-maxEventBatch:]...)
			}
		case <-flush.C:
			save()
		case <-prune.C:
			if n, err := k.db.PruneEvents(k.now().Add(-k.retention)); err != nil {
				k.log.Error("pruning events", "err", err)
			} else if n > 0 {
				k.log.Debug("pruned events", "count", n)
			}
			if p, err := k.db.Prune(k.now().Add(-k.incidentRetention)); err != nil {
				k.log.Error("pruning incidents", "err", err)
			} else if p != (store.Pruned{}) {
				k.log.Info("pruned old incidents, delivered keys and dead letters", "incidents", p.Incidents, "delivered", p.Delivered, "dead", p.Dead)
			}
		}
	}
}

// clusterView is what the incident manager reads: the informer cache, and
// the events kept in the data dir (an hour before the failure).
type clusterView struct {
	*kube.Cache
	db  *store.DB
	now func() time.Time
}

func (v clusterView) Events(kind, namespace, name string) []incident.Event {
	evs, _ := v.db.Events(kind, namespace, name, v.now().Add(-time.Hour))
	out := make([]incident.Event, len(evs))
	for i, e := range evs {
		out[i] = incident.Event{Time: e.Time, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: e.Count}
	}
	return out
}

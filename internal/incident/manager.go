package incident

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Persister stores incidents and queues their messages in one transaction.
type Persister interface {
	// Unfinished returns the open incidents and the resolved ones still
	// owed a message.
	Unfinished() ([]*Incident, error)
	Commit(incidents []*Incident, messages []*notify.Message) error
}

// ClusterView is what the manager reads to describe a failure.
type ClusterView interface {
	PodsOn(node string) []*cluster.Pod
	Owners() cluster.Owners
	// Events returns the recent events about an object, oldest first.
	Events(kind, namespace, name string) []Event
}

// Options configure a Manager.
type Options struct {
	// GroupWindow: a node failure is announced at once and opens a window;
	// failures that follow within it go out together as one follow-up when
	// it closes, and recoveries are gathered the same way (0: every message
	// on its own, at once).
	GroupWindow time.Duration
	// ExternalURL, when set, links messages to <ExternalURL>/incidents/<id>.
	ExternalURL string
	Now         func() time.Time
	Log         *slog.Logger
	// Committed is called after messages were queued (to wake the sender).
	Committed func()
	// Enrich, if set, adds what takes the history or the network to know
	// to a node failure (its likely cause) or a newly failing workload (its
	// pods' log tails). It runs off the detection path, at most
	// EnrichConcurrency at a time and for at most EnrichTimeout: the
	// incident and its message are committed first, the message waits for
	// the enrichment at most EnrichWait, and what comes later still goes
	// into the incident.
	Enrich func(ctx context.Context, inc Incident, at time.Time) Enrichment
	// EnrichWait (500ms), EnrichTimeout (30s) and EnrichConcurrency (4)
	// bound the enrichment; zero takes the default.
	EnrichWait        time.Duration
	EnrichTimeout     time.Duration
	EnrichConcurrency int
	// KubeletLogs, when set, has node failures wait for their kubelet's
	// log: someone reads KubeletLogRequests and answers through
	// AttachKubeletLog (see kubeletlog.go).
	KubeletLogs bool
}

// Manager keeps the open incidents. Its methods are safe for concurrent use.
type Manager struct {
	opts Options
	p    Persister
	view ClusterView

	mu      sync.Mutex
	open    map[string]*Incident // by key
	owing   map[*Incident]bool   // incidents owed a message, open or not
	windows map[string]time.Time // when each group's window closes, by rule/status
	dirty   map[*Incident]bool
	unsaved []*notify.Message
	logs    map[string]*logWant // by incident ID
	enrich  enrichment
	wake    chan struct{}
}

// NewManager loads the open incidents from p.
func NewManager(p Persister, view ClusterView, opts Options) (*Manager, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.EnrichWait = cmp.Or(opts.EnrichWait, 500*time.Millisecond)
	opts.EnrichTimeout = cmp.Or(opts.EnrichTimeout, 30*time.Second)
	opts.EnrichConcurrency = cmp.Or(opts.EnrichConcurrency, 4)
	unfinished, err := p.Unfinished()
	if err != nil {
		return nil, fmt.Errorf("loading open incidents: %w", err)
	}
	m := &Manager{
		opts: opts, p: p, view: view, open: map[string]*Incident{}, owing: map[*Incident]bool{}, windows: map[string]time.Time{},
		dirty: map[*Incident]bool{}, logs: map[string]*logWant{}, wake: make(chan struct{}, 1),
	}
	m.enrich.init(opts.EnrichConcurrency)
	for _, inc := range unfinished {
		if inc.Status == Open {
			m.open[inc.Key] = inc
			m.wantLogAgain(inc)
		}
		m.resume(inc)
	}
	return m, nil
}

// Open returns copies of the open incidents, newest first.
func (m *Manager) Open() []Incident {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Incident, 0, len(m.open))
	for _, inc := range m.open {
		out = append(out, *inc)
	}
	slices.SortFunc(out, func(a, b Incident) int { return b.Start.Compare(a.Start) })
	return out
}

// FiringMessages returns a firing message for every open incident whose
// alerts are not held back, for sinks that need firing alerts re-sent to
// keep them alive (Alertmanager). Nothing is recorded or queued.
func (m *Manager) FiringMessages() []*notify.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	var out []*notify.Message
	for _, inc := range m.open {
		if inc.Node != "" && inc.Rule != detect.NodeFlapping {
			if _, flapping := m.open["node/"+inc.Node+"/flapping"]; flapping {
				continue
			}
		}
		if len(inc.Notifications) == 0 {
			continue // its first message is not queued yet
		}
		out = append(out, m.message(now, inc.Rule, notify.Firing, false, []*Incident{inc}))
	}
	slices.SortFunc(out, func(a, b *notify.Message) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// IsOpen reports whether an incident with this key is open.
func (m *Manager) IsOpen(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.open[key]
	return ok
}

// Observe takes every finding of one scope ("node/" or "workload/" keys)
// that holds now: new ones open incidents, changed ones escalate, and open
// incidents of the scope whose finding is gone resolve. reports carries
// failing workloads' details by key.
func (m *Manager) Observe(scope string, findings []detect.Finding, reports map[string]health.WorkloadReport) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	holding := map[string]bool{}
	for _, f := range findings {
		holding[f.Key] = true
		inc, ok := m.open[f.Key]
		switch {
		case !ok:
			inc = m.start(f, now)
			if r, ok := reports[f.Key]; ok {
				inc.Details = &r
			}
			m.startEnrichment(inc, now)
			m.emit(inc, notify.Firing, now, nil)
		case inc.Rule != f.Rule && rank(f.Severity) < rank(inc.Severity):
			// Easing off (a recovering node is Ready before its next Lease
			// renewal): keep the graver finding, say nothing new.
		case inc.Rule != f.Rule:
			sup := &notify.Superseded{Rule: inc.Rule, Severity: inc.Severity}
			inc.Rule, inc.Severity, inc.Reason, inc.Message = f.Rule, f.Severity, f.Reason, f.Message
			if !f.Since.IsZero() {
				inc.Since = f.Since.UTC()
			}
			if pods := m.podsOn(f.Node); len(pods) > 0 {
				inc.Pods = pods
			}
			if f.Node != "" {
				inc.Events = m.view.Events("Node", "", f.Node)
				m.wantLog(inc)
			}
			m.dirty[inc] = true
			m.startEnrichment(inc, now)
			m.emit(inc, notify.Firing, now, sup)
		default:
			if r, ok := reports[f.Key]; ok && inc.Details != nil && len(r.Pods) > len(inc.Details.Pods) {
				inc.Details = &r
				m.dirty[inc] = true
			}
		}
		if f.Instant {
			m.resolve(inc, now)
		}
	}
	for key, inc := range m.open {
		if strings.HasPrefix(key, scope) && !holding[key] {
			m.resolve(inc, now)
		}
	}
}

func (m *Manager) start(f detect.Finding, now time.Time) *Incident {
	inc := &Incident{
		ID: newID(f.Key, now), Key: f.Key, Rule: f.Rule, Severity: f.Severity, Status: Open,
		Start: now, Node: f.Node, Workload: f.Workload, Reason: f.Reason, Message: f.Message,
		Notifications: []Notification{},
	}
	if !f.Since.IsZero() {
		inc.Since = f.Since.UTC()
	}
	if f.Node != "" {
		inc.Pods = m.podsOn(f.Node)
		inc.Events = m.view.Events("Node", "", f.Node)
		m.wantLog(inc)
	}
	m.open[f.Key] = inc
	m.dirty[inc] = true
	m.opts.Log.Info("incident opened", "id", inc.ID, "rule", f.Rule, "node", f.Node, "workload", f.Workload, "reason", f.Reason)
	return inc
}

func (m *Manager) resolve(inc *Incident, now time.Time) {
	if inc.Node != "" {
		inc.Events = m.view.Events("Node", "", inc.Node) // the whole timeline
	}
	end := now
	inc.End, inc.Status = &end, Resolved
	m.logNodeBack(inc)
	delete(m.open, inc.Key)
	m.dirty[inc] = true
	m.opts.Log.Info("incident resolved", "id", inc.ID, "rule", inc.Rule, "duration", inc.Duration(now).Round(time.Second))
	if inc.Rule != detect.NodeDeleted { // a deletion is one message
		m.emit(inc, notify.Resolved, now, nil)
	}
}

// podsOn snapshots the pods bound to a node now.
func (m *Manager) podsOn(node string) []health.PodReport {
	if node == "" {
		return nil
	}
	owners := m.view.Owners()
	var out []health.PodReport
	for _, p := range m.view.PodsOn(node) {
		if p.Phase == string(corev1.PodSucceeded) || p.Phase == string(corev1.PodFailed) {
			continue
		}
		out = append(out, health.PodReport{
			Namespace: p.Namespace, Name: p.Name, Owner: owners.Resolve(p), Phase: p.Phase, QOS: p.QOS,
			MemoryRequest: p.MemoryRequest, MemoryLimit: p.MemoryLimit, Restarts: p.Restarts,
		})
	}
	slices.SortFunc(out, func(a, b health.PodReport) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// rank orders severities.
func rank(severity string) int {
	switch severity {
	case detect.Critical:
		return 3
	case detect.Warning:
		return 2
	}
	return 1
}

func newID(key string, now time.Time) string {
	h := sha256.Sum256([]byte(key + now.Format(time.RFC3339Nano)))
	return now.Format("20060102-150405") + "-" + hex.EncodeToString(h[:3])
}

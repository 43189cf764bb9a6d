package incident

import (
	"cmp"
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
	OpenIncidents() ([]*Incident, error)
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
	// GroupWindow gathers node failures starting within it into one message
	// (0 sends each at once).
	GroupWindow time.Duration
	// ExternalURL, when set, links messages to <ExternalURL>/incidents/<id>.
	ExternalURL string
	Now         func() time.Time
	Log         *slog.Logger
	// Committed is called after messages were queued (to wake the sender).
	Committed func()
	// Explain, if set, names the likely cause of a node's failure at a time
	// from the pods on it (see package analyze/cause); nil when nothing in
	// the history explains it. It runs when a node incident opens or
	// escalates, before its message is built.
	Explain func(node string, at time.Time, pods []health.PodReport) *health.Cause
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
	groups  map[string]*group    // pending grouped node messages, by rule/status
	dirty   map[*Incident]bool
	unsaved []*notify.Message
	logs    map[string]*logWant // by incident ID
}

// group is a node message waiting for its window to close.
type group struct {
	rule, status string
	deadline     time.Time
	incidents    []*Incident
}

// NewManager loads the open incidents from p.
func NewManager(p Persister, view ClusterView, opts Options) (*Manager, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	open, err := p.OpenIncidents()
	if err != nil {
		return nil, fmt.Errorf("loading open incidents: %w", err)
	}
	m := &Manager{opts: opts, p: p, view: view, open: map[string]*Incident{}, groups: map[string]*group{}, dirty: map[*Incident]bool{}, logs: map[string]*logWant{}}
	for _, inc := range open {
		m.open[inc.Key] = inc
		m.wantLogAgain(inc)
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
			continue // its first message is still in a grouping window
		}
		out = append(out, m.message(now, inc.Rule, notify.Firing, []*Incident{inc}))
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
			m.emit(inc, notify.Firing, now)
		case inc.Rule != f.Rule && rank(f.Severity) < rank(inc.Severity):
			// Easing off (a recovering node is Ready before its next Lease
			// renewal): keep the graver finding, say nothing new.
		case inc.Rule != f.Rule:
			inc.superseded = &notify.Superseded{Rule: inc.Rule, Severity: inc.Severity}
			inc.Rule, inc.Severity, inc.Reason, inc.Message = f.Rule, f.Severity, f.Reason, f.Message
			if !f.Since.IsZero() {
				inc.Since = f.Since.UTC()
			}
			if pods := m.podsOn(f.Node); len(pods) > 0 {
				inc.Pods = pods
			}
			if f.Node != "" {
				inc.Events = m.view.Events("Node", "", f.Node)
				m.explain(inc, now)
				m.wantLog(inc)
			}
			m.dirty[inc] = true
			m.emit(inc, notify.Firing, now)
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
		m.explain(inc, now)
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
		m.emit(inc, notify.Resolved, now)
	}
}

// explain attaches the likely cause of a node failure (node down or early
// warning), keeping an earlier one if the history no longer shows it.
func (m *Manager) explain(inc *Incident, now time.Time) {
	if m.opts.Explain == nil || (inc.Rule != detect.NodeNotReady && inc.Rule != detect.NodeLeaseStale) {
		return
	}
	if c := m.opts.Explain(inc.Node, now, inc.Pods); c != nil {
		inc.Cause = c
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

// emit queues a message about inc: node failures and recoveries join a
// group (sent when its window closes), others go at once. A node that is flapping has one
// alert for that; its individual down/up messages are recorded as suppressed.
func (m *Manager) emit(inc *Incident, status string, now time.Time) {
	if inc.Node != "" && inc.Rule != detect.NodeFlapping {
		if _, flapping := m.open["node/"+inc.Node+"/flapping"]; flapping {
			inc.Notifications = append(inc.Notifications, Notification{Rule: inc.Rule, Status: status, At: now, Suppressed: "node is flapping"})
			m.dirty[inc] = true
			return
		}
	}
	// Early warnings go at once: waiting for a group would spend the
	// head start they exist for.
	if inc.Node == "" || m.opts.GroupWindow == 0 || inc.Rule == detect.NodeLeaseStale {
		m.queue(now, inc.Rule, status, inc)
		return
	}
	gk := inc.Rule + "/" + status
	g, ok := m.groups[gk]
	if !ok {
		g = &group{rule: inc.Rule, status: status, deadline: now.Add(m.opts.GroupWindow)}
		m.groups[gk] = g
	}
	g.incidents = append(g.incidents, inc)
}

// Flush sends the groups whose window has closed and commits what changed.
// The daemon calls it after each evaluation and on a ticker.
func (m *Manager) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	for gk, g := range m.groups {
		if !now.Before(g.deadline) {
			m.queue(now, g.rule, g.status, g.incidents...)
			delete(m.groups, gk)
		}
	}
	if len(m.dirty) == 0 && len(m.unsaved) == 0 {
		return nil
	}
	incs := make([]*Incident, 0, len(m.dirty))
	for inc := range m.dirty {
		incs = append(incs, inc)
	}
	if err := m.p.Commit(incs, m.unsaved); err != nil {
		// Keep everything: the next Flush tries again. Detection goes on.
		return fmt.Errorf("saving %d incidents and %d messages (will retry): %w", len(incs), len(m.unsaved), err)
	}
	if len(m.unsaved) > 0 && m.opts.Committed != nil {
		m.opts.Committed()
	}
	m.dirty, m.unsaved = map[*Incident]bool{}, nil
	return nil
}

// queue builds one message about incs and records it on each.
func (m *Manager) queue(now time.Time, rule, status string, incs ...*Incident) {
	msg := m.message(now, rule, status, incs)
	for _, inc := range incs {
		if inc.superseded != nil && status == notify.Firing {
			msg.Supersedes, inc.superseded = inc.superseded, nil
		}
		inc.Notifications = append(inc.Notifications, Notification{Key: msg.Key, Rule: rule, Status: status, At: now})
		m.dirty[inc] = true
	}
	m.unsaved = append(m.unsaved, msg)
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

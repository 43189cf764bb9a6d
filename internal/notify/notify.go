// Package notify carries findings to people: the Message every sink renders,
// the Notifier interface sinks implement, and the errors that tell a caller
// whether and when to retry. Sinks live in sub-packages (notify/slack, ...).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/nodewatch/nodewatch/internal/health"
)

// Message is one notification: nodes with problems and the pods on them,
// failing workloads, and pods that cannot be scheduled.
type Message struct {
	// Key identifies the message for deduplication by receivers: the same
	// incident in the same state always has the same key.
	Key string
	// IncidentID names the incident the message is about ("" for a one-shot check).
	IncidentID string
	// Rule is the detection rule, e.g. NodeNotReady (see package detect).
	Rule string
	// Severity is critical, warning or info.
	Severity string
	// Status is firing or resolved.
	Status string
	// Title is the one-line headline, e.g. "1 of 3 nodes not Ready".
	Title string
	// Text adds a paragraph under the title (may be empty).
	Text string
	At   time.Time
	// StartsAt and EndsAt bound the incident (EndsAt zero while firing).
	StartsAt, EndsAt time.Time
	// URL links to the incident page, when an external URL is configured.
	URL string
	// Nodes and Unschedulable are as in a health report.
	Nodes         []health.NodeReport
	Unschedulable []health.PodReport
	// Workloads lists failing or unavailable workloads.
	Workloads []WorkloadReport
	// Supersedes is the rule this message escalates from (an early warning
	// that became NodeNotReady): sinks that keep alerts alive, such as
	// Alertmanager, resolve it.
	Supersedes *Superseded
}

// Superseded names the rule and severity an escalation replaced.
type Superseded struct {
	Rule     string
	Severity string
}

// Message states.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// WorkloadReport and FailingPod are health's; aliased here for sinks.
type (
	WorkloadReport = health.WorkloadReport
	FailingPod     = health.FailingPod
)

// FromReport turns a check report into a message.
func FromReport(r *health.Report) *Message {
	return &Message{
		Key:           fmt.Sprintf("check/%d", r.CheckedAt.Unix()),
		Rule:          "Check",
		Severity:      "critical",
		Status:        Firing,
		Title:         r.Summary(),
		At:            r.CheckedAt,
		Nodes:         r.Nodes,
		Unschedulable: r.Unschedulable,
	}
}

// Notifier sends a message. retry reports whether the failure is
// temporary (network errors, 5xx, 429) and the same message may be sent again.
type Notifier interface {
	Notify(ctx context.Context, m *Message) (retry bool, err error)
}

// ThrottledError is a receiver's request to wait before sending again
// (HTTP 429 with Retry-After).
type ThrottledError struct {
	After time.Duration
	Err   error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *ThrottledError) Unwrap() error { return e.Err }

// RetryAfter returns how long a receiver asked to wait, if it did.
func RetryAfter(err error) (time.Duration, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.After, true
	}
	return 0, false
}

// Redact hides everything in a URL but its scheme and host: webhook URLs
// carry their secret in the path.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted URL>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// LogNotifier writes messages to the log: the sink that is always there.
type LogNotifier struct{ Log *slog.Logger }

var _ Notifier = LogNotifier{}

// Notify logs m.
func (l LogNotifier) Notify(_ context.Context, m *Message) (bool, error) {
	nodes := make([]string, len(m.Nodes))
	pods := 0
	for i, n := range m.Nodes {
		nodes[i] = n.Name
		pods += len(n.Pods)
	}
	level := slog.LevelWarn
	if m.Status == Resolved {
		level = slog.LevelInfo
	}
	l.Log.Log(context.Background(), level, "ALERT "+m.Title, "rule", m.Rule, "status", m.Status, "severity", m.Severity,
		"incident", m.IncidentID, "nodes", nodes, "pods_on_nodes", pods, "workloads", len(m.Workloads), "text", m.Text)
	return false, nil
}

// Package notify carries findings to people: the Message every sink renders,
// the Notifier interface sinks implement, and the errors that tell a caller
// whether and when to retry. Sinks live in sub-packages (notify/slack, ...).
package notify

import (
	"context"
	"errors"
	"fmt"
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
}

// Message states.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// WorkloadReport is a workload whose pods keep failing or that runs below
// its desired replicas.
type WorkloadReport struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Reason is the failure: CrashLoopBackOff, ImagePullBackOff, OOMKilled,
	// Evicted, Unschedulable, Unavailable, ...
	Reason string `json:"reason"`
	// Desired and Available replicas, for Unavailable.
	Desired   int32 `json:"desired,omitempty"`
	Available int32 `json:"available,omitempty"`
	// Pods are the failing pods (namespace/name) with what each last said.
	Pods []FailingPod `json:"pods"`
}

// FailingPod is one pod of a failing workload.
type FailingPod struct {
	Name      string `json:"name"`
	Node      string `json:"node,omitempty"`
	Container string `json:"container,omitempty"`
	Reason    string `json:"reason"`
	// ExitCode and Message come from the last termination.
	ExitCode int32  `json:"exitCode,omitempty"`
	Message  string `json:"message,omitempty"`
	Restarts int32  `json:"restarts"`
	// LogTail is the end of the previous container's log, where RBAC allows.
	LogTail []string `json:"logTail,omitempty"`
}

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

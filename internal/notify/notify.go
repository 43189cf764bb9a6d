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
// and pods that cannot be scheduled.
type Message struct {
	// Key identifies the message for deduplication by receivers.
	Key string
	// Title is the one-line headline, e.g. "1 of 3 nodes not Ready".
	Title string
	At    time.Time
	// Nodes and Unschedulable are as in a health report.
	Nodes         []health.NodeReport
	Unschedulable []health.PodReport
}

// FromReport turns a check report into a message.
func FromReport(r *health.Report) *Message {
	return &Message{
		Key:           fmt.Sprintf("check/%d", r.CheckedAt.Unix()),
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

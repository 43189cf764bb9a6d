package webhook

import (
	"fmt"
	"time"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Version is the payload schema version. It changes only if a field is
// removed or changes meaning; new fields are added without a bump.
const Version = "1"

// Payload is the JSON body posted for every message: nodewatch's documented
// webhook schema (docs/webhook-schema.md). Strings are "" and lists [] when
// empty, never null; times are RFC 3339 in UTC, null when not known.
type Payload struct {
	Version string `json:"version"`
	// IdempotencyKey is Message.Key, also sent as the Idempotency-Key header:
	// a receiver that has seen the key may drop the repeat.
	IdempotencyKey string `json:"idempotencyKey"`
	IncidentID     string `json:"incidentId"`
	Rule           string `json:"rule"`
	Severity       string `json:"severity"`
	// Status is firing or resolved.
	Status string     `json:"status"`
	Title  string     `json:"title"`
	Text   string     `json:"text"`
	At     *time.Time `json:"at"`
	// StartsAt and EndsAt bound the incident; EndsAt is null while firing.
	StartsAt *time.Time `json:"startsAt"`
	EndsAt   *time.Time `json:"endsAt"`
	URL      string     `json:"url"`
	// Nodes and Unschedulable are as in `nodewatch check -o json`.
	Nodes         []health.NodeReport     `json:"nodes"`
	Unschedulable []health.PodReport      `json:"unschedulable"`
	Workloads     []notify.WorkloadReport `json:"workloads"`
}

// Render builds the payload for m. A message without a status is firing; a
// status other than firing or resolved is an error, since receivers branch
// on it.
func Render(m *notify.Message) (*Payload, error) {
	status := m.Status
	if status == "" {
		status = notify.Firing
	}
	if status != notify.Firing && status != notify.Resolved {
		return nil, fmt.Errorf("message %q has status %q, want %s or %s", m.Key, m.Status, notify.Firing, notify.Resolved)
	}
	p := &Payload{
		Version:        Version,
		IdempotencyKey: m.Key,
		IncidentID:     m.IncidentID,
		Rule:           m.Rule,
		Severity:       m.Severity,
		Status:         status,
		Title:          m.Title,
		Text:           m.Text,
		At:             timePtr(m.At),
		StartsAt:       timePtr(m.StartsAt),
		URL:            m.URL,
		Nodes:          nonNil(m.Nodes),
		Unschedulable:  nonNil(m.Unschedulable),
		Workloads:      nonNil(m.Workloads),
	}
	if status == notify.Resolved {
		// A resolved message always says when: its EndsAt, else when it was sent.
		p.EndsAt = timePtr(m.EndsAt)
		if p.EndsAt == nil {
			p.EndsAt = p.At
		}
	}
	for i := range p.Nodes {
		// Keep the check schema's [] for nodes built outside health.Evaluate.
		if p.Nodes[i].Pods == nil || p.Nodes[i].Conditions == nil || p.Nodes[i].Problems == nil {
			p.Nodes = append([]health.NodeReport(nil), p.Nodes...)
			for j := range p.Nodes {
				n := &p.Nodes[j]
				n.Pods, n.Conditions, n.Problems = nonNil(n.Pods), nonNil(n.Conditions), nonNil(n.Problems)
			}
			break
		}
	}
	for i := range p.Workloads {
		if p.Workloads[i].Pods == nil {
			p.Workloads = append([]notify.WorkloadReport(nil), p.Workloads...)
			for j := range p.Workloads {
				p.Workloads[j].Pods = nonNil(p.Workloads[j].Pods)
			}
			break
		}
	}
	return p, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

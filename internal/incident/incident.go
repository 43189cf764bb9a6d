// Package incident turns detection findings into incidents: it opens one
// when a finding appears (with the pods that were on the node at that
// moment, kept even after they are evicted), escalates it when the rule
// changes (a node's early warning becoming NotReady), resolves it when the
// finding goes away, and queues the notifications — grouping node failures
// that follow one another within a window into one follow-up message (the
// first goes at once). An incident and the messages it is owed are
// committed together before anything else, so a crash or a restart never
// loses one (see announce.go).
package incident

import (
	"time"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Statuses.
const (
	Open     = "open"
	Resolved = "resolved"
)

// Incident is one failure from start to end.
type Incident struct {
	ID       string `json:"id"`
	Key      string `json:"key"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	// Start is when nodewatch opened the incident; Since is when the
	// cluster says the condition began (e.g. Ready's lastTransitionTime).
	Start time.Time  `json:"start"`
	Since time.Time  `json:"since,omitzero"`
	End   *time.Time `json:"end"`
	// Node or Workload names what failed.
	Node     string `json:"node,omitempty"`
	Workload string `json:"workload,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	// Pods are the pods bound to the node when it failed.
	Pods []health.PodReport `json:"pods,omitempty"`
	// Details describes a failing workload's pods.
	Details *health.WorkloadReport `json:"details,omitempty"`
	// Events are Kubernetes events about the node at failure time.
	Events []Event `json:"events,omitempty"`
	// Cause is the likely cause of a node failure, from the history.
	Cause *health.Cause `json:"likelyCause,omitempty"`
	// KubeletLog is the end of the node's kubelet log from the minutes
	// before the failure, where its kubelet answers log queries;
	// KubeletLogMissing says why there is none (yet).
	KubeletLog        []string `json:"kubeletLog,omitempty"`
	KubeletLogMissing string   `json:"kubeletLogMissing,omitempty"`
	// Notifications are the messages queued for this incident.
	Notifications []Notification `json:"notifications"`
	// Owed are the messages the incident is owed and that are not queued
	// yet, oldest first: committed with the incident, so a restart still
	// sends them (see announce.go).
	Owed []Owed `json:"owed,omitempty"`
}

// Owed is a message an incident is owed: queued to the outbox when Due at
// the latest — earlier for a first message whose enrichment came in sooner.
type Owed struct {
	Rule   string    `json:"rule"`
	Status string    `json:"status"`
	Due    time.Time `json:"due"`
	// Grouped: a follow-up inside its group's window; it goes out at Due
	// with every other incident's follow-up of the same rule and status.
	Grouped bool `json:"grouped,omitempty"`
	// Supersedes is the rule an escalation replaces.
	Supersedes *notify.Superseded `json:"supersedes,omitempty"`
}

// Event is a Kubernetes event kept with an incident.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
}

// Notification records one message about the incident.
type Notification struct {
	Key    string    `json:"key"`
	Rule   string    `json:"rule"`
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	// Suppressed is set when the message was not sent, and why (e.g. the
	// node is flapping and has one alert for that).
	Suppressed string `json:"suppressed,omitempty"`
}

// Duration is how long the incident lasted, or has lasted by now.
func (i *Incident) Duration(now time.Time) time.Duration {
	start := i.Start
	if !i.Since.IsZero() && i.Since.Before(start) {
		start = i.Since
	}
	if i.End != nil {
		return i.End.Sub(start)
	}
	return now.Sub(start)
}

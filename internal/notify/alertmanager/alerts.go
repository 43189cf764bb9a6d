package alertmanager

import (
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Alert is a postable alert of Alertmanager's v2 API (PostableAlert in its
// OpenAPI spec, api/v2/openapi.yaml). Labels identify the alert: the same
// labels posted again update it, and an endsAt in the past resolves it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     *time.Time        `json:"startsAt,omitempty"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Label names nodewatch sets. alertname, severity and the object's labels
// are the ones Alertmanager routes, groups and inhibits on by convention.
const (
	LabelAlertName    = "alertname"
	LabelSeverity     = "severity"
	LabelNode         = "node"
	LabelNamespace    = "namespace"
	LabelWorkloadKind = "workload_kind"
	LabelWorkload     = "workload"
	LabelSource       = "source"
	// Source is the value of the source label on every alert.
	Source = "nodewatch"
)

// Limits on what an alert lists: receivers downstream of Alertmanager
// (PagerDuty, Slack, e-mail) cut long annotations wherever they like, so
// nodewatch cuts first, where a reader can tell.
const (
	maxListed      = 20   // pods listed in a description
	maxLineRunes   = 300  // one pod's line
	maxDescription = 4000 // runes in a description
	maxSummary     = 300  // runes in a summary
)

// FiringTTL is how far ahead a firing alert's endsAt is set. Alertmanager
// resolves an alert whose endsAt has passed, so the daemon re-sends firing
// alerts well within it (every minute, as Prometheus does); should
// nodewatch itself die, its alerts end on their own after this long.
const FiringTTL = 10 * time.Minute

// Alerts turns m into Alertmanager alerts: one per node in m.Nodes, one per
// workload in m.Workloads, and one for the message itself when it has
// neither — plus, when m escalates from another rule, that rule's alerts,
// resolved. now sets a firing alert's endsAt (now + FiringTTL) and ends a
// resolved message that carries no time at all.
func Alerts(m *notify.Message, now time.Time) ([]Alert, error) {
	status := m.Status
	if status == "" {
		status = notify.Firing
	}
	if status != notify.Firing && status != notify.Resolved {
		return nil, fmt.Errorf("message %q has status %q, want %s or %s", m.Key, m.Status, notify.Firing, notify.Resolved)
	}
	var startsAt, endsAt *time.Time
	if t := firstSet(m.StartsAt, m.At); !t.IsZero() {
		startsAt = &t
	}
	if status == notify.Resolved {
		// Alertmanager resolves an alert whose endsAt has passed; without an
		// endsAt it would keep it firing until resolve_timeout.
		t := firstSet(m.EndsAt, m.At, now)
		if startsAt != nil && t.Before(*startsAt) {
			t = *startsAt // Alertmanager rejects endsAt before startsAt
		}
		endsAt = &t
	} else {
		t := now.Add(FiringTTL)
		endsAt = &t
	}
	generator := ""
	if u, err := url.Parse(m.URL); err == nil && u.Scheme != "" && u.Host != "" {
		generator = m.URL
	}
	base := func() map[string]string {
		l := map[string]string{LabelAlertName: m.Rule, LabelSource: Source}
		if l[LabelAlertName] == "" {
			l[LabelAlertName] = "Nodewatch"
		}
		setLabel(l, LabelSeverity, m.Severity)
		return l
	}
	alert := func(labels map[string]string, description string, pods int) Alert {
		return Alert{
			Labels: labels,
			Annotations: map[string]string{
				"summary":     truncate(clean(m.Title), maxSummary),
				"description": truncate(clean(description), maxDescription),
				"pods":        strconv.Itoa(pods),
				// The incident is an annotation, not a label: grouped
				// messages carry several, and a label would split one node's
				// firing and resolved alerts into two alerts.
				"incident": m.IncidentID,
			},
			StartsAt: startsAt, EndsAt: endsAt, GeneratorURL: generator,
		}
	}

	var alerts []Alert
	for i := range m.Nodes {
		n := &m.Nodes[i]
		l := base()
		setLabel(l, LabelNode, n.Name)
		a := alert(l, nodeDescription(n, m.Text), len(n.Pods))
		if n.LikelyCause != nil {
			a.Annotations["likely_cause"] = truncate(clean(n.LikelyCause.Summary), maxDescription)
		}
		alerts = append(alerts, a)
	}
	for i := range m.Workloads {
		w := &m.Workloads[i]
		l := base()
		setLabel(l, LabelNamespace, w.Namespace)
		setLabel(l, LabelWorkloadKind, w.Kind)
		setLabel(l, LabelWorkload, w.Name)
		alerts = append(alerts, alert(l, workloadDescription(w, m.Text), len(w.Pods)))
	}
	if len(alerts) == 0 {
		alerts = append(alerts, alert(base(), messageDescription(m), len(m.Unschedulable)))
	}
	if sup := m.Supersedes; sup != nil && sup.Rule != "" {
		ended := now
		if startsAt != nil && ended.Before(*startsAt) {
			ended = *startsAt
		}
		for _, a := range alerts[:len(alerts):len(alerts)] {
			l := maps.Clone(a.Labels)
			l[LabelAlertName] = sup.Rule
			setLabel(l, LabelSeverity, sup.Severity)
			r := a
			r.Labels, r.EndsAt = l, &ended
			alerts = append(alerts, r)
		}
	}
	return alerts, nil
}

// nodeDescription says what is wrong with the node and which pods were on
// it, the question the team asks first.
func nodeDescription(n *health.NodeReport, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Node %s", n.Name)
	if len(n.Problems) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(n.Problems, ", "))
	}
	fmt.Fprintf(&b, " (Ready=%s", n.Ready)
	if n.Since != nil {
		fmt.Fprintf(&b, " since %s", n.Since.UTC().Format(time.RFC3339))
	}
	b.WriteString(").")
	if n.Reason != "" || n.Message != "" {
		b.WriteString("\n" + strings.TrimPrefix(n.Reason+": "+n.Message, ": "))
	}
	if text != "" {
		b.WriteString("\n" + text)
	}
	switch len(n.Pods) {
	case 0:
		b.WriteString("\nNo pods on the node.")
	case 1:
		b.WriteString("\n1 pod on the node:")
	default:
		fmt.Fprintf(&b, "\n%d pods on the node:", len(n.Pods))
	}
	list(&b, len(n.Pods), func(i int) string {
		p := &n.Pods[i]
		return fmt.Sprintf("%s/%s (%s/%s)", p.Namespace, p.Name, p.Owner.Kind, p.Owner.Name)
	})
	return b.String()
}

func workloadDescription(w *notify.WorkloadReport, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s: %s", w.Kind, w.Namespace, w.Name, w.Reason)
	if w.Desired > 0 {
		fmt.Fprintf(&b, " (%d of %d replicas available)", w.Available, w.Desired)
	}
	b.WriteString(".")
	if text != "" {
		b.WriteString("\n" + text)
	}
	if len(w.Pods) > 0 {
		fmt.Fprintf(&b, "\nFailing pods (%d):", len(w.Pods))
	}
	list(&b, len(w.Pods), func(i int) string {
		p := &w.Pods[i]
		s := p.Name
		if p.Node != "" {
			s += " on " + p.Node
		}
		s += ": " + p.Reason
		if p.ExitCode != 0 {
			s += fmt.Sprintf(", exit code %d", p.ExitCode)
		}
		s += fmt.Sprintf(", %d restarts", p.Restarts)
		if p.Message != "" {
			s += ": " + p.Message
		}
		return s
	})
	return b.String()
}

// messageDescription describes a message with neither nodes nor workloads,
// such as pods no node can take.
func messageDescription(m *notify.Message) string {
	var b strings.Builder
	b.WriteString(m.Text)
	if len(m.Unschedulable) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d pods cannot be scheduled:", len(m.Unschedulable))
	}
	list(&b, len(m.Unschedulable), func(i int) string {
		p := &m.Unschedulable[i]
		s := fmt.Sprintf("%s/%s (%s/%s)", p.Namespace, p.Name, p.Owner.Kind, p.Owner.Name)
		if p.Message != "" {
			s += ": " + p.Message
		}
		return s
	})
	if b.Len() == 0 {
		return m.Title
	}
	return b.String()
}

// list writes up to maxListed items as "- item" lines and counts the rest.
func list(b *strings.Builder, n int, item func(int) string) {
	for i := range min(n, maxListed) {
		b.WriteString("\n- " + truncate(oneLine(item(i)), maxLineRunes))
	}
	if n > maxListed {
		fmt.Fprintf(b, "\n- …and %d more", n-maxListed)
	}
}

// truncate cuts s to at most limit runes, ending in "…" when it cut, at a
// line break if one is near so a list does not end mid-entry.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	runes := []rune(s)[:limit-1]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, '\n'); i > len(cut)*3/4 {
		cut = cut[:i+1]
	}
	return cut + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clean makes s a valid label or annotation value (UTF-8, no NULs).
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// setLabel sets a label unless the value is empty: Alertmanager drops empty
// labels anyway, and identity should not depend on it.
func setLabel(l map[string]string, name, value string) {
	if v := clean(value); v != "" {
		l[name] = v
	}
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t.UTC()
		}
	}
	return time.Time{}
}

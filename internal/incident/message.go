package incident

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// message builds the notification for incidents sharing rule and status;
// followUp: they follow a first failure announced at once.
func (m *Manager) message(now time.Time, rule, status string, followUp bool, incs []*Incident) *notify.Message {
	ids := make([]string, len(incs))
	for i, inc := range incs {
		ids[i] = inc.ID
	}
	slices.Sort(ids)
	msg := &notify.Message{
		Key:        strings.Join(ids, "+") + "/" + rule + "/" + status,
		IncidentID: ids[0],
		Rule:       rule,
		Severity:   incs[0].Severity,
		Status:     status,
		At:         now,
		StartsAt:   incs[0].Start,
	}
	if status == notify.Resolved {
		// The severity stays the firing one: Alertmanager matches the
		// resolved alert to the firing one by all its labels.
		if e := incs[0].End; e != nil {
			msg.EndsAt = *e
		}
	}
	if m.opts.ExternalURL != "" {
		msg.URL = strings.TrimSuffix(m.opts.ExternalURL, "/") + "/incidents/" + ids[0]
	}
	var names []string
	for _, inc := range incs {

		if inc.Node != "" {
			names = append(names, inc.Node)
			msg.Nodes = append(msg.Nodes, nodeReport(inc, status))
		}
		if inc.Details != nil {
			msg.Workloads = append(msg.Workloads, *inc.Details)
		}
	}
	msg.Title, msg.Text = describe(rule, status, followUp, incs, names, now)
	if status == notify.Firing {
		var causes []string
		for _, inc := range incs {
			if inc.Cause == nil {
				continue
			}
			if len(incs) == 1 {
				causes = append(causes, "Likely cause: "+inc.Cause.Summary)
			} else {
				causes = append(causes, inc.Node+" — likely cause: "+inc.Cause.Summary)
			}
		}
		msg.Text = strings.TrimSpace(msg.Text + "\n" + strings.Join(causes, "\n"))
	}
	return msg
}

func nodeReport(inc *Incident, status string) health.NodeReport {
	ready := "Unknown"
	switch {
	case status == notify.Resolved:
		ready = "True"
	case inc.Rule == detect.NodeLeaseStale || inc.Rule == detect.NodePressure:
		ready = "True"
	case strings.Contains(inc.Reason, "NotReady") || inc.Reason == "KubeletNotReady":
		ready = "False"
	}
	since := inc.Since
	if since.IsZero() {
		since = inc.Start
	}
	pods := inc.Pods
	if pods == nil {
		pods = []health.PodReport{}
	}
	r := health.NodeReport{
		Name: inc.Node, Ready: ready, Reason: inc.Reason, Message: inc.Message, Since: &since,
		Problems: []string{inc.Rule}, Pods: pods,
	}
	if status == notify.Firing {
		r.LikelyCause = inc.Cause
	}
	return r
}

// describe writes the headline and a sentence for a message.
func describe(rule, status string, followUp bool, incs []*Incident, nodes []string, now time.Time) (title, text string) {
	list := strings.Join(nodes, ", ")
	if status == notify.Resolved {
		switch {
		case len(nodes) == 1:
			return fmt.Sprintf("%s recovered (%s after %s)", nodes[0], rule, incs[0].Duration(now).Round(time.Second)), ""
		case len(nodes) > 1:
			return fmt.Sprintf("%d nodes recovered: %s", len(nodes), list), ""
		default:
			return fmt.Sprintf("resolved: %s %s after %s", incs[0].Workload, rule, incs[0].Duration(now).Round(time.Second)), ""
		}
	}
	more := ""
	if followUp {
		more = "more "
	}
	plural := func(one, many string) string {
		if len(nodes) == 1 {
			return nodes[0] + " " + one
		}
		return fmt.Sprintf("%d %snodes %s: %s", len(nodes), more, many, list)
	}
	switch rule {
	case detect.NodeNotReady:
		return plural("is down", "down"), ""
	case detect.NodeLeaseStale:
		return "early warning: " + plural("stopped heartbeating", "stopped heartbeating"), ""
	case detect.NodePressure:
		return plural("is under "+incs[0].Reason, "under pressure"), ""
	case detect.NodeFlapping:
		return plural("is flapping", "flapping"), ""
	case detect.NodeDeleted:
		return plural("was deleted", "deleted"), ""
	}
	return incs[0].Message, ""
}

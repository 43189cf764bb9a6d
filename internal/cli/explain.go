package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/report"
)

// Explanation is a node's (or an incident's) timeline: what happened, and
// the history around it.
type Explanation struct {
	Node string    `json:"node"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Entries are the timeline, oldest first: incidents opening and
	// closing, notifications sent, Kubernetes events.
	Entries []Entry `json:"timeline"`
	// Causes are the likely causes the incidents named.
	Causes []health.Cause `json:"likelyCauses"`
	// Pods are the heaviest pods' working sets on the node over the range.
	Pods []ContainerHistory `json:"pods"`
	// PageFaults is the node's major-page-fault rate (per second).
	PageFaults []Rate `json:"majorPageFaults"`
	// KubeletLog is the end of the kubelet's own log over the range, where
	// the kubelet answers log queries (see kube.KubeletLog), or the lines
	// kept with an incident (KubeletLogIncident names it): for an incident,
	// or where the kubelet does not answer now.
	KubeletLog         []string `json:"kubeletLog,omitempty"`
	KubeletLogIncident string   `json:"kubeletLogIncident,omitempty"`
	// Missing says what could not be read (no history, no daemon).
	Missing []string `json:"missing,omitempty"`
}

// Entry is one timeline line.
type Entry struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // incident, resolved, notification, event
	Rule     string    `json:"rule,omitempty"`
	Incident string    `json:"incident,omitempty"`
	Text     string    `json:"text"`
}

// Rate is one point of a per-second rate.
type Rate struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

func newExplain(g *globals) *cobra.Command {
	var server, dataDir, output string
	var since time.Duration
	var top, logLines int
	cmd := &cobra.Command{
		Use:   "explain node NAME | explain incident ID",
		Short: "A node's or an incident's timeline: Ready and Lease incidents, alerts, events, the heaviest pods' memory and the page faults",
		Long: `Explain puts together what nodewatch knows about a node or an incident: the
incidents (early warnings, NotReady, pressure, thrashing) with their likely
causes, the notifications sent, the Kubernetes events kept with them, and
from the history the memory of the node's heaviest pods and its major page
faults over the same time; and, through the API server's node proxy, the
kubelet's own last log lines over that time where the kubelet answers log
queries (Kubernetes 1.27+, NodeLogQuery; needs get on nodes/proxy).`,
		Example: `  nodewatch explain node ip-172-20-1-11
  nodewatch explain node ip-172-20-1-11 --since 24h -o json
  nodewatch explain incident 20261129-115230-3f2a1b`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := report.ParseFormat(output, report.Text, report.JSON, report.YAML)
			if err != nil {
				return err
			}
			if since <= 0 {
				return fmt.Errorf("--since must be positive, got %s", since)
			}
			incs, _, err := loadIncidents(cmd.Context(), server, dataDir)
			if err != nil {
				return err
			}
			now := g.now()
			var node string
			from, to := now.Add(-since), now
			switch args[0] {
			case "node":
				node = args[1]
				incs = slices.DeleteFunc(incs, func(i incident.Incident) bool {
					return i.Node != node || (i.End != nil && i.End.Before(from))
				})
			case "incident":
				i := slices.IndexFunc(incs, func(i incident.Incident) bool { return i.ID == args[1] })
				if i < 0 {
					return fmt.Errorf("no incident %q (nodewatch incidents lists them)", args[1])
				}
				inc := incs[i]
				if inc.Node == "" {
					return fmt.Errorf("incident %s is about %s, not a node: nodewatch incidents -o json shows its details", inc.ID, inc.Workload)
				}
				node, incs = inc.Node, []incident.Incident{inc}
				start := inc.Start
				if !inc.Since.IsZero() && inc.Since.Before(start) {
					start = inc.Since
				}
				from, to = start.Add(-since), now
				if inc.End != nil {
					to = inc.End.Add(10 * time.Minute)
				}
			default:
				return fmt.Errorf("explain %q: use explain node NAME or explain incident ID", args[0])
			}
			x := Explanation{Node: node, From: from.UTC(), To: to.UTC(), Entries: timeline(incs, from, to)}
			for _, i := range incs {
				if i.Cause != nil {
					x.Causes = append(x.Causes, *i.Cause)
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := x.readHistory(ctx, server, top); err != nil {
				x.Missing = append(x.Missing, "history: "+err.Error())
			}
			x.addKubeletLog(cmd.Context(), g, logLines, incs, args[0] == "incident")
			return report.Write(g.Out, format, x, func(w io.Writer) error { return explainText(w, &x) })
		},
	}
	g.nodewatchURLVar(cmd.Flags(), &server, "the running daemon (history and incidents)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./nodewatch-data", "the data dir to read incidents from when no daemon answers")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	sinceVar(cmd.Flags(), &since, "since", 6*time.Hour, "how far back to look, e.g. 6h or 7d (for an incident: before it began)")
	cmd.Flags().IntVar(&top, "top", 5, "how many of the node's heaviest pods to show")
	cmd.Flags().IntVar(&logLines, "kubelet-log-lines", 20, "how many of the kubelet's last log lines over the range to show, where it answers log queries (0: none)")
	return cmd
}

// addKubeletLog gives the kubelet's last log lines: those kept with the
// newest incident in incs when kept is preferred (an incident's own, from
// the minutes before its failure), else those read now, and the kept ones
// where the kubelet does not answer now (a node still down, or replaced).
func (x *Explanation) addKubeletLog(ctx context.Context, g *globals, lines int, incs []incident.Incident, preferKept bool) {
	if lines <= 0 {
		return
	}
	var kept *incident.Incident
	for i := range incs {
		if len(incs[i].KubeletLog) > 0 && (kept == nil || incs[i].Start.After(kept.Start)) {
			kept = &incs[i]
		}
	}
	useKept := func() {
		x.KubeletLog, x.KubeletLogIncident = kept.KubeletLog[max(0, len(kept.KubeletLog)-lines):], kept.ID
	}
	if kept != nil && preferKept {
		useKept()
		return
	}
	err := x.readKubeletLog(ctx, g, lines)
	switch {
	case err == nil:
	case kept != nil:
		useKept()
		x.Missing = append(x.Missing, "kubelet log now: "+err.Error()+"; shown are the lines kept with incident "+kept.ID)
	default:
		x.Missing = append(x.Missing, "kubelet log: "+err.Error())
		for _, i := range incs {
			if i.KubeletLogMissing != "" {
				x.Missing = append(x.Missing, "kubelet log at incident "+i.ID+": "+i.KubeletLogMissing)
			}
		}
	}
}

// readKubeletLog reads the end of the kubelet's log over the range, with
// its own time limit: a node that is still down must not hold up the rest.
func (x *Explanation) readKubeletLog(ctx context.Context, g *globals, lines int) error {
	if lines <= 0 {
		return nil
	}
	client, err := g.access.Client()
	if err != nil {
		return fmt.Errorf("no cluster access: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	x.KubeletLog, err = kube.KubeletLog(ctx, client, x.Node, x.From, x.To, lines)
	return err
}

// timeline lists the incidents' openings, escalations, notifications,
// resolutions and events between from and to, oldest first.
func timeline(incs []incident.Incident, from, to time.Time) []Entry {
	var out []Entry
	seen := map[string]bool{} // events kept with several incidents appear once
	add := func(e Entry) {
		key := e.Time.String() + e.Kind + e.Text
		if !e.Time.Before(from) && !e.Time.After(to) && !seen[key] {
			seen[key] = true
			e.Time = e.Time.UTC()
			out = append(out, e)
		}
	}
	for _, i := range incs {
		since := i.Since
		if since.IsZero() {
			since = i.Start
		}
		add(Entry{Time: since, Kind: "incident", Rule: i.Rule, Incident: i.ID, Text: strings.TrimSpace(i.Reason + ": " + i.Message)})
		for _, n := range i.Notifications {
			add(Entry{Time: n.At, Kind: "notification", Rule: n.Rule, Incident: i.ID, Text: n.Status + " (" + n.Key + ")"})
		}
		for _, e := range i.Events {
			add(Entry{Time: e.Time, Kind: "event", Incident: i.ID, Text: fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message)})
		}
		if i.End != nil {
			add(Entry{Time: *i.End, Kind: "resolved", Rule: i.Rule, Incident: i.ID, Text: "after " + i.End.Sub(since).Round(time.Second).String()})
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	return out
}

// readHistory fills the heaviest pods' memory and the page-fault rate.
func (x *Explanation) readHistory(ctx context.Context, server string, top int) error {
	a, err := historyAPI(server)
	if err != nil {
		return err
	}
	span := x.To.Sub(x.From)
	step := max(span/120, time.Second)
	r := promv1.Range{Start: x.From, End: x.To, Step: step}
	q := fmt.Sprintf(`topk(%d, max_over_time(sum by (namespace, pod) (container_memory_working_set_bytes{node=%q,container!="",container!="POD"})[%ds:%ds]))`,
		top, x.Node, int(span.Seconds()), int(step.Seconds()))
	v, _, _, err := a.Query(ctx, q, x.To)
	if err != nil {
		return fmt.Errorf("query %s: %w", q, err)
	}
	vec, _ := v.(model.Vector)
	for _, s := range vec {
		ns, pod := string(s.Metric["namespace"]), string(s.Metric["pod"])
		q := fmt.Sprintf(`sum by (namespace, pod) (container_memory_working_set_bytes{namespace=%q,pod=%q,node=%q,container!="",container!="POD"})`, ns, pod, x.Node)
		m, _, _, err := a.QueryRange(ctx, q, r)
		if err != nil {
			return fmt.Errorf("query %s: %w", q, err)
		}
		for _, s := range m.(model.Matrix) {
			h := ContainerHistory{Namespace: ns, Pod: pod, Node: x.Node}
			for i, p := range s.Values {
				b := int64(p.Value)
				h.Points = append(h.Points, Point{Time: p.Timestamp.Time().UTC(), Bytes: b})
				if i == 0 || b < h.Min {
					h.Min = b
				}
				h.Max, h.Last = max(h.Max, b), b
			}
			x.Pods = append(x.Pods, h)
		}
	}
	slices.SortFunc(x.Pods, func(a, b ContainerHistory) int {
		return cmp.Or(cmp.Compare(b.Max, a.Max), cmp.Compare(a.Pod, b.Pod))
	})
	q = fmt.Sprintf(`max(rate(container_memory_failures_total{failure_type="pgmajfault",id="/",node=%q}[2m]))`, x.Node)
	v, _, _, err = a.QueryRange(ctx, q, r)
	if err != nil {
		return fmt.Errorf("query %s: %w", q, err)
	}
	for _, s := range v.(model.Matrix) {
		for _, p := range s.Values {
			x.PageFaults = append(x.PageFaults, Rate{Time: p.Timestamp.Time().UTC(), Value: float64(p.Value)})
		}
	}
	return nil
}

func explainText(out io.Writer, x *Explanation) error {
	w := report.NewPrinter(out)
	w.Printf("Node %s, %s → %s\n", x.Node, x.From.Format(time.RFC3339), x.To.Format(time.RFC3339))
	w.Println("\nTIMELINE")
	if len(x.Entries) == 0 {
		w.Println("  no incidents in this time")
	}
	for _, e := range x.Entries {
		label := e.Kind
		if e.Rule != "" {
			label += " " + e.Rule
		}
		w.Printf("  %s  %-30s %s\n", e.Time.Format("2006-01-02 15:04:05"), label, e.Text)
	}
	if len(x.Causes) > 0 {
		w.Println("\nLIKELY CAUSE")
		for _, c := range x.Causes {
			w.Printf("  %s\n", c.Summary)
			for _, ev := range c.Evidence {
				w.Printf("    %s\n", ev)
			}
		}
	}
	if len(x.Pods) > 0 {
		w.Println("\nMEMORY (heaviest pods on the node, working set)")
		for _, p := range x.Pods {
			w.Printf("  %-50s min %-8s max %-8s last %-8s %s\n", p.Namespace+"/"+p.Pod,
				report.Measured(p.Min), report.Measured(p.Max), report.Measured(p.Last), Sparkline(p.Points, p.Min, p.Max))
		}
	}
	if len(x.PageFaults) > 0 {
		pts := make([]Point, len(x.PageFaults))
		var peak Rate
		for i, r := range x.PageFaults {
			pts[i] = Point{Time: r.Time, Bytes: int64(r.Value)}
			if r.Value > peak.Value {
				peak = r
			}
		}
		w.Printf("\nMAJOR PAGE FAULTS/s  %s  peak %.0f/s", Sparkline(pts, 0, int64(peak.Value)), peak.Value)
		if !peak.Time.IsZero() {
			w.Printf(" at %s", peak.Time.Format("15:04:05"))
		}
		w.Println()
	}
	if len(x.KubeletLog) > 0 && x.KubeletLogIncident != "" {
		w.Printf("\nKUBELET LOG (its last lines around the failure, kept with incident %s)\n", x.KubeletLogIncident)
	} else if len(x.KubeletLog) > 0 {
		w.Println("\nKUBELET LOG (its last lines over the range)")
	}
	if len(x.KubeletLog) > 0 {
		for _, l := range x.KubeletLog {
			w.Printf("  %s\n", l)
		}
	}
	for _, m := range x.Missing {
		w.Printf("\n(not shown: %s)\n", m)
	}
	return w.Err()
}

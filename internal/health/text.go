package health

import (
	"fmt"
	"io"
	"strings"

	"github.com/nodewatch/nodewatch/internal/report"
)

// WriteText renders the report for people.
func (r *Report) WriteText(w io.Writer) error {
	if r.Healthy {
		_, err := fmt.Fprintf(w, "All %d nodes are Ready and every pod is scheduled (%d pods checked at %s).\n",
			r.NodeCount, r.PodCount, r.CheckedAt.Format("2006-01-02T15:04:05Z07:00"))
		return err
	}
	tw := report.NewTable(w)
	tw.Printf("%s\n", r.Summary())
	for _, n := range r.Nodes {
		tw.Printf("\nNode %s: %s — Ready=%s since %s\n", n.Name, strings.Join(n.Problems, ", "), n.Ready, report.Since(n.Since, r.CheckedAt))
		if n.Reason != "" || n.Message != "" {
			tw.Printf("  %s: %s\n", n.Reason, n.Message)
		}
		for _, c := range n.Conditions {
			if c.Type != readyType && c.Status == "True" {
				tw.Printf("  %s: %s %s\n", c.Type, c.Reason, c.Message)
			}
		}
		if len(n.Pods) == 0 {
			tw.Printf("  no pods on this node\n")
			continue
		}
		tw.Printf("  %d pods on this node:\n", len(n.Pods))
		tw.Printf("  NAMESPACE\tPOD\tWORKLOAD\tPHASE\tQOS\tMEM REQUEST\tMEM LIMIT\tRESTARTS\n")
		for _, p := range n.Pods {
			tw.Printf("  %s\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%d\n", p.Namespace, p.Name, p.Owner.Kind, p.Owner.Name,
				p.Phase, p.QOS, report.Bytes(p.MemoryRequest, "-"), report.Bytes(p.MemoryLimit, "none"), p.Restarts)
		}
	}
	if len(r.Unschedulable) > 0 {
		tw.Printf("\n%d pods cannot be scheduled:\n", len(r.Unschedulable))
		tw.Printf("  NAMESPACE\tPOD\tWORKLOAD\tSINCE\tMESSAGE\n")
		for _, p := range r.Unschedulable {
			tw.Printf("  %s\t%s\t%s/%s\t%s\t%s\n", p.Namespace, p.Name, p.Owner.Kind, p.Owner.Name, report.Since(p.Since, r.CheckedAt), p.Message)
		}
	}
	return tw.Flush()
}

// Summary is a one-line account of the problems.
func (r *Report) Summary() string {
	if r.Healthy {
		return fmt.Sprintf("all %d nodes Ready", r.NodeCount)
	}
	var parts []string
	down := 0
	for _, n := range r.Nodes {
		if n.Ready != "True" {
			down++
		}
	}
	if down > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d nodes not Ready", down, r.NodeCount))
	}
	if other := len(r.Nodes) - down; other > 0 {
		parts = append(parts, fmt.Sprintf("%d more with other problems", other))
	}
	if len(r.Unschedulable) > 0 {
		parts = append(parts, fmt.Sprintf("%d pods unschedulable", len(r.Unschedulable)))
	}
	return strings.Join(parts, "; ")
}

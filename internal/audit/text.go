package audit

import (
	"fmt"
	"io"
	"strings"
)

// WriteText renders the report for people: a summary, then each finding
// with what is wrong, why it matters and the fix.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	scope := "all namespaces"
	if r.Namespace != "" {
		scope = "namespace " + r.Namespace
	}
	fmt.Fprintf(&b, "Audited %s at %s: %s, %s, %s, %s.\n", scope, r.AuditedAt.Format("2006-01-02T15:04:05Z07:00"),
		count(r.Nodes, "node"), count(r.Namespaces, "namespace"), count(r.Workloads, "workload"), count(r.Pods, "pod"))
	if len(r.Findings) == 0 {
		b.WriteString("No findings: every container declares its memory request and limit and its CPU request.\n")
	} else {
		fmt.Fprintf(&b, "%s: %d critical, %d warning, %d info.\n", count(len(r.Findings), "finding"), r.Critical, r.Warning, r.Info)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n%-8s  %s  %s\n", strings.ToUpper(string(f.Severity)), f.Object(), f.Check)
		fmt.Fprintf(&b, "  %s\n", f.Message)
		if f.Detail != "" {
			fmt.Fprintf(&b, "  %s\n", f.Detail)
		}
		fmt.Fprintf(&b, "  fix: %s\n", f.Fix)
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\nNot checked:\n")
		for _, s := range r.Skipped {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Object names what the finding is about: node/NAME, namespace/NAME, or
// NAMESPACE/Kind/name for a workload.
func (f *Finding) Object() string {
	switch {
	case f.Node != "":
		return "node/" + f.Node
	case f.Workload != nil:
		return f.Namespace + "/" + f.Workload.Kind + "/" + f.Workload.Name
	}
	return "namespace/" + f.Namespace
}

func count(n int, what string) string { return fmt.Sprintf("%d %s", n, plural(n, what, what+"s")) }

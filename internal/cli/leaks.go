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
	"github.com/spf13/pflag"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/report"
)

// ContainerLeak is one container's verdict.
type ContainerLeak struct {
	Namespace    string       `json:"namespace"`
	Pod          string       `json:"pod"`
	Container    string       `json:"container"`
	Node         string       `json:"node"`
	WorkloadKind string       `json:"workloadKind"`
	Workload     string       `json:"workload"`
	Verdict      leak.Verdict `json:"verdict"`
}

func newLeaks(g *globals) *cobra.Command {
	var server, output string
	var since time.Duration
	var all bool
	o := leak.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "leaks",
		Short: "Containers whose memory grows without bound, from nodewatch's history",
		Long: `Judge every container's working set over --since: a robust trend across
restarts (an OOM kill and regrowth is the same leak), significant by a
Mann–Kendall test, still growing lately (a warm-up plateau is no leak), not
moved by spikes. Short history says "not enough data" instead of guessing.`,
		Example: `  nodewatch leaks
  nodewatch leaks -n emails --since 24h -o json
  nodewatch leaks --all   # every container's verdict, leaking or not`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := report.ParseFormat(output, report.Text, report.JSON, report.YAML)
			if err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			a, err := historyAPI(server)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			found, err := findLeaks(ctx, a, g.namespaceScope(), g.now(), since, o)
			if err != nil {
				return err
			}
			if !all {
				found = slices.DeleteFunc(found, func(c ContainerLeak) bool { return !c.Verdict.Leak })
			}
			if found == nil {
				found = []ContainerLeak{}
			}
			return report.Write(g.Out, format, found, func(w io.Writer) error { return leaksText(w, found, all) })
		},
	}
	f := cmd.Flags()
	g.nodewatchURLVar(f, &server, "the nodewatch daemon (or a Prometheus) to read history from")
	sinceVar(f, &since, "since", 6*time.Hour, "how much history to judge, e.g. 6h or 7d")
	f.BoolVar(&all, "all", false, "list every container's verdict, not only leaks")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	leakFlags(f, &o)
	return cmd
}

// leakFlags are the leak verdict's thresholds, for leaks and suspects.
func leakFlags(f *pflag.FlagSet, o *leak.Options) {
	f.DurationVar(&o.MinSpan, "min-history", o.MinSpan, "the least history to judge a container")
	f.IntVar(&o.MinPoints, "min-samples", o.MinPoints, "the fewest samples to judge a container")
	f.Var(bytesPerHour{&o.MinSlope}, "min-growth", "the least growth that counts, e.g. 5Mi/h or 100MiB/h (a plain number: bytes per hour)")
}

func findLeaks(ctx context.Context, a promv1.API, namespace string, now time.Time, since time.Duration, o leak.Options) ([]ContainerLeak, error) {
	sel := `container!=""`
	if namespace != "" {
		sel += fmt.Sprintf(`,namespace=%q`, namespace)
	}
	step := max(since/720, time.Second)
	q := leak.Query(fmt.Sprintf(`container_memory_working_set_bytes{%s}`, sel), step)
	v, _, _, err := a.QueryRange(ctx, q, promv1.Range{Start: now.Add(-since), End: now, Step: step})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	m, _ := v.(model.Matrix)
	var out []ContainerLeak
	for _, s := range m {
		pts := make([]leak.Point, len(s.Values))
		for i, p := range s.Values {
			pts[i] = leak.Point{T: p.Timestamp.Time(), V: float64(p.Value)}
		}
		out = append(out, ContainerLeak{
			Namespace: string(s.Metric["namespace"]), Pod: string(s.Metric["pod"]), Container: string(s.Metric["container"]),
			Node: string(s.Metric["node"]), WorkloadKind: string(s.Metric["workload_kind"]), Workload: string(s.Metric["workload"]),
			Verdict: leak.Analyze(pts, o),
		})
	}
	slices.SortFunc(out, func(a, b ContainerLeak) int {
		return cmp.Or(cmp.Compare(b.Verdict.SlopePerHour, a.Verdict.SlopePerHour),
			strings.Compare(a.Namespace+a.Pod+a.Container, b.Namespace+b.Pod+b.Container))
	})
	return out, nil
}

func leaksText(w io.Writer, found []ContainerLeak, all bool) error {
	if len(found) == 0 {
		_, err := fmt.Fprintln(w, "No container leaks.")
		return err
	}
	tw := report.NewTable(w)
	tw.Println("NAMESPACE\tPOD\tCONTAINER\tWORKLOAD\tGROWTH/h\tCONFIDENCE\tNOW\tVERDICT")
	for _, c := range found {
		growth := report.Bytes(ptr(int64(c.Verdict.SlopePerHour)), "-")
		last := int64(c.Verdict.Last)
		verdict := c.Verdict.Reason
		if all && c.Verdict.Leak {
			verdict = "LEAK: " + verdict
		}
		tw.Printf("%s\t%s\t%s\t%s/%s\t%s\t%.0f%%\t%s\t%s\n", c.Namespace, c.Pod, c.Container, c.WorkloadKind, c.Workload,
			growth, 100*c.Verdict.Confidence, report.Bytes(&last, "-"), verdict)
	}
	return tw.Flush()
}

func ptr[T any](v T) *T { return &v }

package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/report"
)

// ContainerHistory is one container's working set over time.
type ContainerHistory struct {
	Namespace string  `json:"namespace"`
	Pod       string  `json:"pod"`
	Container string  `json:"container"`
	Node      string  `json:"node"`
	Min       int64   `json:"min"`
	Max       int64   `json:"max"`
	Last      int64   `json:"last"`
	Points    []Point `json:"points"`
}

// Point is one sample.
type Point struct {
	Time  time.Time `json:"time"`
	Bytes int64     `json:"bytes"`
}

func newHistory(g *globals) *cobra.Command {
	var server, container, output string
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "history POD",
		Short: "A pod's memory over time, from nodewatch's history: a table and a sparkline per container",
		Example: `  nodewatch history unanswered-emails-x7k2p -n emails
  nodewatch history web-5d9f-abcde -n web -c nginx --since 24h -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := report.ParseFormat(output, report.Text, report.JSON, report.YAML)
			if err != nil {
				return err
			}
			if since <= 0 {
				return fmt.Errorf("--since must be positive, got %s", since)
			}
			ns := g.namespace
			if ns == "" {
				ns = "default"
			}
			a, err := historyAPI(server)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			hist, err := podHistory(ctx, a, ns, args[0], container, g.now(), since)
			if err != nil {
				return err
			}
			if len(hist) == 0 {
				return fmt.Errorf("no memory history for pod %s/%s%s in the last %s (is nodewatch run scraping, and the name right?)",
					ns, args[0], map[bool]string{true: " container " + container}[container != ""], since)
			}
			return report.Write(g.Out, format, hist, func(w io.Writer) error { return historyText(w, hist, since) })
		},
	}
	g.nodewatchURLVar(cmd.Flags(), &server, "the nodewatch daemon (or a Prometheus) to read history from")
	cmd.Flags().StringVarP(&container, "container", "c", "", "only this container")
	sinceVar(cmd.Flags(), &since, "since", 6*time.Hour, "how far back to look, e.g. 6h or 7d")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

func podHistory(ctx context.Context, a promv1.API, ns, pod, container string, now time.Time, since time.Duration) ([]ContainerHistory, error) {
	sel := fmt.Sprintf(`namespace=%q,pod=%q`, ns, pod)
	if container != "" {
		sel += fmt.Sprintf(`,container=%q`, container)
	}
	step := max(since/120, time.Second)
	q := fmt.Sprintf(`max by (namespace, pod, container, node) (container_memory_working_set_bytes{%s})`, sel)
	v, _, _, err := a.QueryRange(ctx, q, promv1.Range{Start: now.Add(-since), End: now, Step: step})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	m, _ := v.(model.Matrix)
	var out []ContainerHistory
	for _, s := range m {
		h := ContainerHistory{Namespace: string(s.Metric["namespace"]), Pod: string(s.Metric["pod"]),
			Container: string(s.Metric["container"]), Node: string(s.Metric["node"])}
		for i, p := range s.Values {
			b := int64(p.Value)
			h.Points = append(h.Points, Point{Time: p.Timestamp.Time().UTC(), Bytes: b})
			if i == 0 || b < h.Min {
				h.Min = b
			}
			h.Max = max(h.Max, b)
			h.Last = b
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b ContainerHistory) int { return strings.Compare(a.Container, b.Container) })
	return out, nil
}

func historyText(out io.Writer, hist []ContainerHistory, since time.Duration) error {
	w := report.NewPrinter(out)
	for _, h := range hist {
		w.Printf("%s/%s container %s on %s — working set over %s: min %s, max %s, last %s\n",
			h.Namespace, h.Pod, h.Container, h.Node, since, report.Measured(h.Min), report.Measured(h.Max), report.Measured(h.Last))
		w.Printf("  %s\n", Sparkline(h.Points, h.Min, h.Max))
		tw := report.NewTable(w)
		tw.Println("  TIME\tWORKING SET")
		stride := max(len(h.Points)/12, 1)
		for i := 0; i < len(h.Points); i += stride {
			p := h.Points[i]
			tw.Printf("  %s\t%s\n", p.Time.Format(time.RFC3339), report.Measured(p.Bytes))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		w.Println()
	}
	return w.Err()
}

// Sparkline draws points as block characters scaled between lo and hi.
func Sparkline(points []Point, lo, hi int64) string {
	const bars = "▁▂▃▄▅▆▇█"
	runes := []rune(bars)
	var b strings.Builder
	for _, p := range points {
		i := 0
		if hi > lo {
			i = int(float64(p.Bytes-lo) / float64(hi-lo) * float64(len(runes)-1))
		}
		b.WriteRune(runes[i])
	}
	return b.String()
}

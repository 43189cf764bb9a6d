package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/analyze/culprit"
	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/report"
)

func newSuspects(g *globals) *cobra.Command {
	var server, dataDir, output string
	var since time.Duration
	lo := leak.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "suspects",
		Short: "Rank workloads by how strongly they are tied to node failures",
		Long: `Rank the workloads that had pods on failed nodes (from nodewatch's incidents)
by how much more often they were there than their spread over the cluster's
nodes explains — a DaemonSet on every node scores 0 — with missing memory
limits and memory leaks found in the history (see nodewatch leaks) as further
evidence, in plain words, best first.`,
		Example: `  nodewatch suspects
  nodewatch suspects -o json --nodewatch-url http://nodewatch.monitoring:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := report.ParseFormat(output, report.Text, report.JSON, report.YAML)
			if err != nil {
				return err
			}
			if err := lo.Validate(); err != nil {
				return err
			}
			incs, _, err := loadIncidents(cmd.Context(), server, dataDir)
			if err != nil {
				return err
			}
			client, err := g.access.Client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			snap, err := kube.List(ctx, client, "")
			if err != nil {
				return err
			}
			ranked := culprit.Rank(culprit.Failures(incs), presence(snap), leakEvidence(ctx, g, server, since, lo))
			if ranked == nil {
				ranked = []culprit.Suspect{}
			}
			return report.Write(g.Out, format, ranked, func(w io.Writer) error { return suspectsText(w, ranked) })
		},
	}
	g.nodewatchURLVar(cmd.Flags(), &server, "the running daemon's --listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./nodewatch-data", "the data dir to read when no daemon answers")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	sinceVar(cmd.Flags(), &since, "since", 24*time.Hour, "history to search for leaks, e.g. 24h or 7d")
	leakFlags(cmd.Flags(), &lo)
	return cmd
}

// leakEvidence scores workloads whose containers leak; without a history to
// read it says so and ranks on presence alone.
func leakEvidence(ctx context.Context, g *globals, server string, since time.Duration, o leak.Options) map[culprit.Workload]culprit.Evidence {
	a, err := historyAPI(server)
	if err != nil {
		return nil
	}
	found, err := findLeaks(ctx, a, "", g.now(), since, o)
	if err != nil {
		g.log.Warn("no leak evidence: the history is not readable", "err", err)
		return nil
	}
	out := map[culprit.Workload]culprit.Evidence{}
	for _, c := range found {
		if !c.Verdict.Leak {
			continue
		}
		w := culprit.Workload{Namespace: c.Namespace, Kind: c.WorkloadKind, Name: c.Workload}
		if _, seen := out[w]; seen {
			continue // the fastest-growing container speaks for its workload
		}
		out[w] = culprit.LeakEvidence(c.Container, c.Pod, c.Verdict)
	}
	return out
}

// presence counts, per workload, the nodes it has pods on.
func presence(s *cluster.Snapshot) map[culprit.Workload]culprit.Presence {
	pods := make([]*cluster.Pod, len(s.Pods))
	for i := range s.Pods {
		pods[i] = &s.Pods[i]
	}
	return culprit.PresenceOf(pods, s.Owners, len(s.Nodes))
}

func suspectsText(w io.Writer, ranked []culprit.Suspect) error {
	if len(ranked) == 0 {
		_, err := fmt.Fprintln(w, "No node failures recorded: no suspects.")
		return err
	}
	tw := report.NewTable(w)
	tw.Println("RANK\tWORKLOAD\tSCORE\tEVIDENCE")
	for i, s := range ranked {
		tw.Printf("%d\t%s %s/%s\t%.1f\t%s\n", i+1, s.Kind, s.Namespace, s.Name, s.Score, strings.Join(s.Evidence, "; "))
	}
	return tw.Flush()
}

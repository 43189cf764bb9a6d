package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/report"
	"github.com/nodewatch/nodewatch/internal/store"
)

func newIncidents(g *globals) *cobra.Command {
	var server, dataDir, output string
	cmd := &cobra.Command{
		Use:   "incidents",
		Short: "List incidents: from the running daemon, or from the data dir when none runs",
		Example: `  nodewatch incidents
  nodewatch incidents -o json
  nodewatch incidents --data-dir /var/lib/nodewatch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := report.ParseFormat(output, report.Text, report.JSON, report.YAML)
			if err != nil {
				return err
			}
			list, source, err := loadIncidents(cmd.Context(), server, dataDir)
			if err != nil {
				return err
			}
			g.log.Debug("incidents read", "from", source)
			return report.Write(g.Out, format, list, func(w io.Writer) error { return incidentsText(w, list, g.now()) })
		},
	}
	cmd.Flags().StringVar(&server, "server", "http://127.0.0.1:8080", "the running daemon's --listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./nodewatch-data", "the data dir to read when no daemon answers")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

// loadIncidents asks the daemon, then falls back to the data dir.
func loadIncidents(ctx context.Context, server, dataDir string) ([]incident.Incident, string, error) {
	if server != "" {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		url := strings.TrimSuffix(server, "/") + "/api/v1/incidents"
		if !strings.Contains(server, "://") {
			url = "http://" + url
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err == nil {
			if resp, err := (&http.Client{Transport: daemonRoundTripper()}).Do(req); err == nil {
				defer resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					return nil, "", fmt.Errorf("the daemon at %s requires its --auth-token: set $%s", server, config.EnvAuthToken)
				}
				if resp.StatusCode == http.StatusOK {
					var list []incident.Incident
					if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
						return nil, "", fmt.Errorf("reading incidents from %s: %w", url, err)
					}
					return list, url, nil
				}
			}
		}
	}
	db, err := store.Open(dataDir, nil, true)
	if errors.Is(err, store.ErrLocked) {
		return nil, "", fmt.Errorf("%w, but it did not answer at %s: pass its --listen address with --server", err, server)
	}
	if err != nil {
		return nil, "", err
	}
	defer db.Close()
	list, err := db.Incidents()
	if list == nil {
		list = []incident.Incident{}
	}
	return list, dataDir, err
}

func incidentsText(w io.Writer, list []incident.Incident, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "No incidents.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tRULE\tSUBJECT\tSTARTED\tDURATION\tPODS\tREASON")
	for _, i := range list {
		subject := i.Node
		if subject == "" {
			subject = i.Workload
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\t%d\t%s\n", i.ID, i.Status, i.Rule, subject,
			duration.HumanDuration(now.Sub(i.Start)), duration.HumanDuration(i.Duration(now)), len(i.Pods), i.Reason)
	}
	return tw.Flush()
}

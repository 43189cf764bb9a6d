package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
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
	g.nodewatchURLVar(cmd.Flags(), &server, "the running daemon's --listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./nodewatch-data", "the data dir to read when no daemon answers")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

// loadIncidents asks the daemon, then falls back to the data dir.
func loadIncidents(ctx context.Context, server, dataDir string) ([]incident.Incident, string, error) {
	if server != "" {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		url := strings.TrimSuffix(server, "/") + "/api/v1/incidents"
		if !strings.Contains(server, "://") {
			url = "http://" + url
		}
		list, answered, err := fetchIncidents(ctx, url)
		switch {
		case err != nil && answered:
			return nil, "", err
		case err == nil:
			return list, url, nil
		}
	}
	db, err := store.Open(dataDir, nil, true)
	if errors.Is(err, store.ErrLocked) {
		return nil, "", fmt.Errorf("%w, but it did not answer at %s: pass its --listen address with --nodewatch-url", err, server)
	}
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = db.Close() }() // opened read-only: a close error loses nothing
	list, err := db.Incidents()
	if list == nil {
		list = []incident.Incident{}
	}
	return list, dataDir, err
}

// fetchIncidents reads every page of the daemon's incidents, following
// its Link headers; answered reports whether a daemon answered at all.
func fetchIncidents(ctx context.Context, first string) (list []incident.Incident, answered bool, err error) {
	client := &http.Client{Transport: daemonRoundTripper()}
	base, err := neturl.Parse(first)
	if err != nil {
		return nil, false, err
	}
	list = []incident.Incident{}
	next := first
	for pages := 0; next != ""; pages++ {
		if pages == 1000 {
			return nil, true, fmt.Errorf("reading incidents from %s: more than 1000 pages", first)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, answered, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, answered, err
		}
		answered = true
		var page []incident.Incident
		switch resp.StatusCode {
		case http.StatusOK:
			err = json.NewDecoder(resp.Body).Decode(&page)
		case http.StatusUnauthorized:
			err = fmt.Errorf("the daemon at %s requires its --auth-token: set $%s", base.Host, config.EnvAuthToken)
		default: // not a nodewatch daemon, or an older one: the data dir tells
			_ = resp.Body.Close() // unread: the status is the answer
			return nil, false, fmt.Errorf("reading incidents from %s: %s", next, resp.Status)
		}
		link := resp.Header.Get("Link")
		_ = resp.Body.Close() // decoded above; a close error has nothing to add
		if err != nil {
			return nil, true, err
		}
		list = append(list, page...)
		next = ""
		if ref, ok := strings.CutPrefix(link, "<"); ok {
			if ref, _, ok = strings.Cut(ref, ">"); ok {
				u, err := base.Parse(ref) // relative to the daemon, never elsewhere
				if err != nil || u.Host != base.Host {
					return nil, true, fmt.Errorf("reading incidents from %s: a next page at %q", first, ref)
				}
				next = u.String()
			}
		}
	}
	return list, true, nil
}

func incidentsText(w io.Writer, list []incident.Incident, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "No incidents.")
		return err
	}
	tw := report.NewTable(w)
	tw.Println("ID\tSTATUS\tRULE\tSUBJECT\tSTARTED\tDURATION\tPODS\tREASON")
	for _, i := range list {
		subject := i.Node
		if subject == "" {
			subject = i.Workload
		}
		tw.Printf("%s\t%s\t%s\t%s\t%s ago\t%s\t%d\t%s\n", i.ID, i.Status, i.Rule, subject,
			duration.HumanDuration(now.Sub(i.Start)), duration.HumanDuration(i.Duration(now)), len(i.Pods), i.Reason)
	}
	return tw.Flush()
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/dump"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/notify/slack"
	"github.com/nodewatch/nodewatch/internal/report"
)

// EnvSlackWebhook names the environment variable holding the Slack
// incoming-webhook URL, so the secret need not appear in a process list.
const EnvSlackWebhook = "NODEWATCH_SLACK_WEBHOOK"

type checkOptions struct {
	file             string
	output           string
	notify           bool
	slackWebhook     string
	slackWebhookFile string
	timeout          time.Duration
}

func newCheck(g *globals) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check once: which nodes are not Ready, which pods are on them, which pods cannot be scheduled",
		Long: `Check the cluster once and report nodes whose Ready condition is False or
Unknown, nodes under memory, disk or PID pressure, without network, or
cordoned, every pod bound to such a node (with its workload, QoS class,
memory request and limit, restarts), and pods the scheduler cannot place.

Reads a live cluster, or with -f the output of
'kubectl get nodes,pods -A -o json' (separate node and pod lists also work).
Pods of all namespaces are checked unless -n is given.

Exit status: 0 healthy, 1 problems found, 2 could not check.`,
		Example: `  # Check the current kubectl context
  nodewatch check

  # Check a dump, as JSON
  kubectl get nodes,pods -A -o json > cluster.json
  nodewatch check -f cluster.json -o json

  # From a CronJob: post problems to Slack (the URL comes from the environment)
  NODEWATCH_SLACK_WEBHOOK=https://hooks.slack.com/services/... nodewatch check --notify

  # ... or from a file, e.g. a mounted Secret
  nodewatch check --notify --slack-webhook-file /etc/nodewatch/slack-webhook

  # In a shell script
  if ! nodewatch check -o json > report.json; then echo "cluster needs attention"; fi`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", "read 'kubectl get nodes,pods -A -o json' output from this file ('-' for stdin) instead of the cluster")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	f.BoolVar(&o.notify, "notify", false, "send problems to Slack (nothing is sent when healthy)")
	f.StringVar(&o.slackWebhook, "slack-webhook", "", "Slack incoming-webhook URL (default $"+EnvSlackWebhook+"). Visible in process lists: prefer --slack-webhook-file")
	f.StringVar(&o.slackWebhookFile, "slack-webhook-file", "", "read the Slack incoming-webhook URL from this file (e.g. a mounted Secret; trailing whitespace dropped); not with --slack-webhook")
	f.DurationVar(&o.timeout, "request-timeout", 60*time.Second, "give up reading the cluster after this long")
	return cmd
}

func runCheck(ctx context.Context, g *globals, o *checkOptions) error {
	format, err := report.ParseFormat(o.output, report.Text, report.JSON, report.YAML)
	if err != nil {
		return err
	}
	if o.slackWebhook != "" && o.slackWebhookFile != "" {
		return errors.New("--slack-webhook and --slack-webhook-file both give the Slack webhook; keep only the file (the flag shows the secret URL in process lists)")
	}
	var notifier notify.Notifier
	if o.notify {
		url := o.slackWebhook
		if o.slackWebhookFile != "" {
			// The file wins over the environment, as in `nodewatch run`:
			// it was given explicitly.
			if url, err = config.ReadSecretFile(o.slackWebhookFile); err != nil {
				return fmt.Errorf("--slack-webhook-file: %w", err)
			}
		}
		if url == "" {
			url = g.getenv(EnvSlackWebhook)
		}
		if url == "" {
			return fmt.Errorf("--notify needs a Slack webhook: set --slack-webhook-file, --slack-webhook or $%s", EnvSlackWebhook)
		}
		if notifier, err = slack.New(url, nil); err != nil {
			return err
		}
	}
	snap, err := loadSnapshot(ctx, g, o)
	if err != nil {
		return err
	}
	r := health.Evaluate(snap, health.Options{Namespace: g.namespaceScope()}, g.now())
	if err := report.Write(g.Out, format, r, r.WriteText); err != nil {
		return err
	}
	if r.Healthy {
		return nil
	}
	if notifier != nil {
		if err := sendWithRetry(ctx, notifier, notify.FromReport(r), 3); err != nil {
			return err
		}
		g.log.Info("sent the report to Slack", "nodes", len(r.Nodes), "unschedulable", len(r.Unschedulable))
	}
	return errFindings
}

func loadSnapshot(ctx context.Context, g *globals, o *checkOptions) (*cluster.Snapshot, error) {
	if o.file != "" {
		in := g.In
		name := "<stdin>"
		if o.file != "-" {
			f, err := os.Open(o.file)
			if err != nil {
				return nil, err
			}
			defer func() { _ = f.Close() }() // read only: a close error loses nothing
			in, name = f, o.file
		}
		return dump.Read(in, name)
	}
	client, err := g.access.Client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return kube.List(ctx, client, g.namespaceScope())
}

// sendWithRetry makes a few attempts, honouring the receiver's Retry-After;
// the daemon's durable outbox does this for good, a one-shot check briefly.
func sendWithRetry(ctx context.Context, n notify.Notifier, m *notify.Message, attempts int) error {
	wait := time.Second
	for i := 1; ; i++ {
		retry, err := n.Notify(ctx, m)
		if err == nil {
			return nil
		}
		if !retry || i == attempts {
			return fmt.Errorf("notifying: %w", err)
		}
		if d, ok := notify.RetryAfter(err); ok {
			wait = d
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

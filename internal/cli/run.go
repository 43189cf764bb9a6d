package cli

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nodewatch/nodewatch/internal/app"
	"github.com/nodewatch/nodewatch/internal/config"
)

func newRun(g *globals) *cobra.Command {
	var configFile string
	fc := config.Default() // flag values; applied over the file only when given
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch the cluster and alert within a second when a node goes down, with the pods that were on it",
		Long: `Run the nodewatch daemon. It watches nodes, their heartbeat Leases, pods,
workloads and events, and alerts when:

  NodeLeaseStale       a kubelet stops renewing its Lease while the node still
                       says Ready (early warning, before the controller's 50 s)
  NodeNotReady         a node's Ready condition turns False or Unknown
  NodePressure         Memory/Disk/PID pressure or NetworkUnavailable
  NodeFlapping         too many Ready transitions: one alert, not a storm
  NodeDeleted          a node object is deleted
  WorkloadFailing      pods crash-looping, failing to pull or create, OOM killed,
                       evicted or unschedulable for too long (one alert per workload)
  WorkloadUnavailable  a Deployment, StatefulSet, DaemonSet or
                       ReplicationController below its desired replicas

and again when each recovers. Every node alert lists the pods that were on the
node when it failed. Incidents and queued notifications live in --data-dir and
survive restarts; a notification is retried until delivered and never sent twice.

Sinks: the log (always, unless --log-notifications=false); Slack
($NODEWATCH_SLACK_WEBHOOK or --slack-webhook-file); a JSON webhook
($NODEWATCH_WEBHOOK_URL or --webhook-url-file); Alertmanager (--alertmanager-url).

Every --scrape-interval it scrapes each Ready node's kubelet (/metrics/resource
and /metrics/cadvisor) into a Prometheus TSDB in --data-dir: container memory
and CPU, node memory, major page faults, OOM events, disk reads.

Serves the dashboard (/), /healthz, /readyz, /metrics, /api/v1/incidents and
Prometheus' query API (/api/v1/query, /api/v1/query_range, /api/v1/series,
/api/v1/labels) on --listen. Listening beyond loopback needs --auth-token-file
(or --auth-token, or $NODEWATCH_AUTH_TOKEN), or --insecure-listen. Without a
token it answers only requests addressed to loopback, the --listen host or the
--external-url host; requests from other sites' pages are refused
(docs/security.md).`,
		Example: `  # Against the current context, alerting to Slack
  NODEWATCH_SLACK_WEBHOOK=https://hooks.slack.com/services/... nodewatch run

  # Route through Alertmanager to PagerDuty, Opsgenie or email
  nodewatch run --alertmanager-url http://alertmanager.monitoring:9093

  # From a config file (flags override it)
  nodewatch run --config /etc/nodewatch/config.yaml --data-dir /var/lib/nodewatch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if configFile != "" {
				if err := cfg.LoadFile(configFile); err != nil {
					return err
				}
			}
			applyFlags(cmd.Flags(), &cfg, &fc)
			if err := cfg.LoadSecrets(g.getenv); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			rc, err := g.access.RESTConfig()
			if err != nil {
				return err
			}
			client, err := g.access.Client()
			if err != nil {
				return err
			}
			kubelet, err := app.KubeletAuthFrom(rc, cfg.History.KubeletCertificateAuthority)
			if err != nil {
				return err
			}
			a, err := app.New(cfg, client, kubelet, g.log, g.now)
			if err != nil {
				return err
			}
			if g.getenv("GOGC") == "" {
				// A long-running watcher holds its cache for good: collect
				// at half the default growth, trading a little idle CPU for
				// a third less memory (GOGC set in the environment wins).
				debug.SetGCPercent(50)
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML configuration file (docs/config.md); flags override it")
	f.StringVar(&fc.DataDir, "data-dir", fc.DataDir, "where incidents and the notification outbox are kept")
	f.StringVar(&fc.Listen, "listen", fc.Listen, "address for /healthz, /readyz, /metrics and the API")
	f.StringVar(&fc.ExternalURL, "external-url", "", "nodewatch's URL as users reach it, for links in alerts")
	f.StringVar(&fc.AuthToken, "auth-token", "", "require this token for the dashboard and APIs (Bearer header, or ?token= once in a browser); default $"+config.EnvAuthToken+"; needed to listen beyond loopback. Visible in process lists: prefer --auth-token-file")
	f.StringVar(&fc.AuthTokenFile, "auth-token-file", "", "read the --auth-token from this file (e.g. a mounted Secret; trailing whitespace dropped); not with --auth-token or $"+config.EnvAuthToken)
	f.BoolVar(&fc.InsecureListen, "insecure-listen", false, "allow a non-loopback --listen without --auth-token")
	durationFlag(f, &fc.GroupWindow, "group-window", "the first node failure goes at once; failures that follow within this window go out together as one follow-up when it closes (0: each message at once). Delivery is at-least-once: what is owed survives restarts; a SIGKILL between a send and its record may repeat one message")
	durationFlag(f, &fc.EvaluationInterval, "evaluation-interval", "how often every rule is evaluated (node changes are evaluated at once)")
	durationFlag(f, &fc.Rules.LeaseRenewInterval, "lease-renew-interval", "the kubelets' Lease renew interval")
	f.IntVar(&fc.Rules.LeaseMissedRenewals, "lease-missed-renewals", fc.Rules.LeaseMissedRenewals, "missed Lease renewals before the early warning")
	f.IntVar(&fc.Rules.FlapTransitions, "flap-transitions", fc.Rules.FlapTransitions, "Ready transitions within --flap-window that make a node flapping")
	durationFlag(f, &fc.Rules.FlapWindow, "flap-window", "window for --flap-transitions")
	durationFlag(f, &fc.Rules.UnschedulableAfter, "unschedulable-after", "how long a pod may stay unschedulable before its workload alerts")
	durationFlag(f, &fc.Rules.UnavailableAfter, "unavailable-after", "how long a workload may stay below its desired replicas before it alerts")
	durationFlag(f, &fc.Rules.WorkloadQuietPeriod, "workload-quiet-period", "how long a failing workload must stay quiet before its alert resolves")
	f.StringVar(&fc.Slack.WebhookURLFile, "slack-webhook-file", "", "file holding the Slack incoming-webhook URL (default $"+config.EnvSlackWebhook+")")
	f.StringVar(&fc.Webhook.URLFile, "webhook-url-file", "", "file holding the JSON webhook URL (default $"+config.EnvWebhookURL+")")
	f.StringVar(&fc.Alertmanager.URL, "alertmanager-url", "", "Alertmanager base URL (v2 API), e.g. http://alertmanager:9093")
	f.BoolVar(&fc.LogNotifications, "log-notifications", fc.LogNotifications, "also write every notification to the log")
	f.IntVar(&fc.KubeletLogLines, "kubelet-log-lines", fc.KubeletLogLines, "how many of a failed node's last kubelet log lines its incident keeps, read through the API server's node proxy where the kubelet answers log queries (needs get on nodes/proxy; 0: none)")
	durationFlag(f, &fc.History.ScrapeInterval, "scrape-interval", "how often to scrape every Ready node's kubelet for the resource history (0: off)")
	durationFlag(f, &fc.History.ScrapeTimeout, "scrape-timeout", "give up on one node's kubelet after this long (0: the smaller of 10s and --scrape-interval)")
	f.IntVar(&fc.History.Workers, "scrape-workers", fc.History.Workers, "kubelets scraped in parallel")
	f.BoolVar(&fc.History.KubeletInsecureTLS, "kubelet-insecure-tls", false, "do not verify kubelets' serving certificates")
	f.StringSliceVar(&fc.History.KubeletAddressTypes, "kubelet-preferred-address-types", fc.History.KubeletAddressTypes, "node address types to reach kubelets by, in order")
	f.StringVar(&fc.History.KubeletScheme, "kubelet-scheme", fc.History.KubeletScheme, "https, or http for test kubelets")
	durationFlag(f, &fc.History.Retention, "retention", "keep resource history this long")
	f.Int64Var(&fc.History.RetentionBytes, "retention-bytes", 0, "cap the resource history's size on disk (0: no cap)")
	f.Int64Var(&fc.History.MinFreeBytes, "min-free-bytes", fc.History.MinFreeBytes, "pause history writes, and alert, while the data dir's disk has less than this free (0: never)")
	f.StringVar(&fc.History.PrometheusURL, "prometheus-url", "", "read the resource history from this Prometheus-compatible store instead of scraping kubelets")
	durationFlag(f, &fc.History.CauseMinHistory, "cause-min-history", "the least history of a pod's memory growth before a node failure that can name it the likely cause")
	durationFlag(f, &fc.History.LeakWindow, "leak-window", "history judged for proactive leak alerts")
	f.Float64Var(&fc.History.LeakMinGrowthMiBPerHour, "leak-min-growth", fc.History.LeakMinGrowthMiBPerHour, "the least growth, in MiB per hour, that raises a leak alert")
	durationFlag(f, &fc.History.ExhaustionWithin, "exhaustion-within", "alert when a leak will reach its limit or fill its node within this long")
	durationFlag(f, &fc.History.ThrashingWindow, "thrashing-window", "how recent the major-page-fault spike of a thrashing node is, against the hour before")
	f.StringVar(&fc.History.RemoteWriteURL, "remote-write-url", "", "also send every scraped sample to this remote-write endpoint (e.g. http://prometheus:9090/api/v1/write)")
	f.StringVar(&fc.History.KubeletCertificateAuthority, "kubelet-certificate-authority", "", "PEM file of the CA that signs kubelets' serving certificates (default: the cluster's CA from the kubeconfig or the service account)")
	f.IntVar(&fc.Query.MaxSamples, "query-max-samples", fc.Query.MaxSamples, "the most samples one query of the query API may hold in memory")
	durationFlag(f, &fc.Query.Timeout, "query-timeout", "end a query of the query API that runs longer")
	f.IntVar(&fc.Query.MaxConcurrency, "query-max-concurrency", fc.Query.MaxConcurrency, "queries of the query API run at once; more wait, then get 503")
	durationFlag(f, &fc.IncidentRetention, "incident-retention", "keep resolved incidents, delivered message keys and dead letters this long")
	f.StringSliceVar(&fc.LogTailExcludeNamespaces, "log-tail-exclude-namespaces", nil, "namespaces whose crash-looping pods' last log lines are never read into alerts")
	return cmd
}

// durationFlag binds a config.Duration.
func durationFlag(f *pflag.FlagSet, d *config.Duration, name, usage string) {
	f.DurationVar((*time.Duration)(d), name, time.Duration(*d), usage)
}

// applyFlags copies the flags the user gave over cfg.
func applyFlags(f *pflag.FlagSet, cfg, fc *config.Config) {
	set := map[string]func(){
		"data-dir":                        func() { cfg.DataDir = fc.DataDir },
		"listen":                          func() { cfg.Listen = fc.Listen },
		"external-url":                    func() { cfg.ExternalURL = fc.ExternalURL },
		"auth-token":                      func() { cfg.AuthToken = fc.AuthToken },
		"auth-token-file":                 func() { cfg.AuthTokenFile = fc.AuthTokenFile },
		"insecure-listen":                 func() { cfg.InsecureListen = fc.InsecureListen },
		"group-window":                    func() { cfg.GroupWindow = fc.GroupWindow },
		"evaluation-interval":             func() { cfg.EvaluationInterval = fc.EvaluationInterval },
		"lease-renew-interval":            func() { cfg.Rules.LeaseRenewInterval = fc.Rules.LeaseRenewInterval },
		"lease-missed-renewals":           func() { cfg.Rules.LeaseMissedRenewals = fc.Rules.LeaseMissedRenewals },
		"flap-transitions":                func() { cfg.Rules.FlapTransitions = fc.Rules.FlapTransitions },
		"flap-window":                     func() { cfg.Rules.FlapWindow = fc.Rules.FlapWindow },
		"unschedulable-after":             func() { cfg.Rules.UnschedulableAfter = fc.Rules.UnschedulableAfter },
		"unavailable-after":               func() { cfg.Rules.UnavailableAfter = fc.Rules.UnavailableAfter },
		"workload-quiet-period":           func() { cfg.Rules.WorkloadQuietPeriod = fc.Rules.WorkloadQuietPeriod },
		"slack-webhook-file":              func() { cfg.Slack.WebhookURLFile = fc.Slack.WebhookURLFile },
		"webhook-url-file":                func() { cfg.Webhook.URLFile = fc.Webhook.URLFile },
		"alertmanager-url":                func() { cfg.Alertmanager.URL = fc.Alertmanager.URL },
		"log-notifications":               func() { cfg.LogNotifications = fc.LogNotifications },
		"kubelet-log-lines":               func() { cfg.KubeletLogLines = fc.KubeletLogLines },
		"scrape-interval":                 func() { cfg.History.ScrapeInterval = fc.History.ScrapeInterval },
		"scrape-timeout":                  func() { cfg.History.ScrapeTimeout = fc.History.ScrapeTimeout },
		"scrape-workers":                  func() { cfg.History.Workers = fc.History.Workers },
		"kubelet-insecure-tls":            func() { cfg.History.KubeletInsecureTLS = fc.History.KubeletInsecureTLS },
		"kubelet-preferred-address-types": func() { cfg.History.KubeletAddressTypes = fc.History.KubeletAddressTypes },
		"kubelet-scheme":                  func() { cfg.History.KubeletScheme = fc.History.KubeletScheme },
		"retention":                       func() { cfg.History.Retention = fc.History.Retention },
		"retention-bytes":                 func() { cfg.History.RetentionBytes = fc.History.RetentionBytes },
		"min-free-bytes":                  func() { cfg.History.MinFreeBytes = fc.History.MinFreeBytes },
		"prometheus-url":                  func() { cfg.History.PrometheusURL = fc.History.PrometheusURL },
		"remote-write-url":                func() { cfg.History.RemoteWriteURL = fc.History.RemoteWriteURL },
		"cause-min-history":               func() { cfg.History.CauseMinHistory = fc.History.CauseMinHistory },
		"leak-window":                     func() { cfg.History.LeakWindow = fc.History.LeakWindow },
		"leak-min-growth":                 func() { cfg.History.LeakMinGrowthMiBPerHour = fc.History.LeakMinGrowthMiBPerHour },
		"exhaustion-within":               func() { cfg.History.ExhaustionWithin = fc.History.ExhaustionWithin },
		"thrashing-window":                func() { cfg.History.ThrashingWindow = fc.History.ThrashingWindow },
		"kubelet-certificate-authority":   func() { cfg.History.KubeletCertificateAuthority = fc.History.KubeletCertificateAuthority },
		"query-max-samples":               func() { cfg.Query.MaxSamples = fc.Query.MaxSamples },
		"query-timeout":                   func() { cfg.Query.Timeout = fc.Query.Timeout },
		"query-max-concurrency":           func() { cfg.Query.MaxConcurrency = fc.Query.MaxConcurrency },
		"incident-retention":              func() { cfg.IncidentRetention = fc.IncidentRetention },
		"log-tail-exclude-namespaces":     func() { cfg.LogTailExcludeNamespaces = fc.LogTailExcludeNamespaces },
	}
	f.Visit(func(fl *pflag.Flag) {
		if apply, ok := set[fl.Name]; ok {
			apply()
		}
	})
}

// Package config holds the daemon's configuration: defaults, an optional
// YAML file (strict: unknown keys are errors), environment variables for
// secrets, and flags — merged in that order and checked by one Validate
// whose errors name the field. Secrets (webhook URLs) come from the
// environment or from files, never from the YAML itself, and are redacted
// wherever they are printed.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// Environment variables read for secrets and endpoints.
const (
	EnvSlackWebhook    = "NODEWATCH_SLACK_WEBHOOK"
	EnvWebhookURL      = "NODEWATCH_WEBHOOK_URL"
	EnvAlertmanagerURL = "NODEWATCH_ALERTMANAGER_URL"
	EnvAuthToken       = "NODEWATCH_AUTH_TOKEN" //nolint:gosec // G101: the name of an environment variable
)

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalJSON parses "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Config is the daemon's configuration.
type Config struct {
	DataDir     string `json:"dataDir"`
	Listen      string `json:"listen"`
	ExternalURL string `json:"externalURL"`
	// AuthToken guards the HTTP server (dashboard and APIs; not /healthz and
	// /readyz) with a bearer token or a ?token= cookie. A secret: it comes
	// from --auth-token, $NODEWATCH_AUTH_TOKEN or AuthTokenFile, never from
	// the YAML.
	AuthToken string `json:"-"`
	// AuthTokenFile names a file holding AuthToken (e.g. a mounted Secret),
	// so that the token shows in no process list (--auth-token does) and
	// no environment dump ($NODEWATCH_AUTH_TOKEN does).
	AuthTokenFile string `json:"authTokenFile"`
	// InsecureListen allows a non-loopback Listen without AuthToken (e.g.
	// behind an authenticating proxy or a NetworkPolicy).
	InsecureListen bool `json:"insecureListen"`
	// EvaluationInterval is how often every rule is evaluated; node changes
	// are also evaluated as soon as they arrive.
	EvaluationInterval Duration `json:"evaluationInterval"`
	// GroupWindow gathers node failures into one message (0: no grouping).
	GroupWindow  Duration     `json:"groupWindow"`
	Rules        Rules        `json:"rules"`
	Slack        Slack        `json:"slack"`
	Webhook      Webhook      `json:"webhook"`
	Alertmanager Alertmanager `json:"alertmanager"`
	// LogNotifications also writes every notification to the log (a sink).
	LogNotifications bool `json:"logNotifications"`
	// KubeletLogLines is how many of a failed node's last kubelet log lines
	// its incident keeps, where the kubelet answers log queries (0: none).
	KubeletLogLines int `json:"kubeletLogLines"`
	// History configures the kubelet scraper and the resource history.
	History History `json:"history"`
	// Query bounds what the Prometheus-compatible query API may cost.
	Query Query `json:"query"`
	// IncidentRetention keeps resolved incidents, delivered message keys
	// and dead letters this long.
	IncidentRetention Duration `json:"incidentRetention"`
	// LogTailExcludeNamespaces are namespaces whose failing pods' log
	// tails are never read into alerts (their logs stay out of chat).
	LogTailExcludeNamespaces []string `json:"logTailExcludeNamespaces"`
}

// Query bounds the query API, as Prometheus' --query.* flags.
type Query struct {
	// MaxSamples a query may hold in memory at once.
	MaxSamples int `json:"maxSamples"`
	// Timeout ends a longer query.
	Timeout Duration `json:"timeout"`
	// MaxConcurrency queries run at once; more wait, then get 503.
	MaxConcurrency int `json:"maxConcurrency"`
}

// History configures resource-history collection.
type History struct {
	// ScrapeInterval is how often every Ready node's kubelet is scraped (0: off).
	ScrapeInterval Duration `json:"scrapeInterval"`
	// ScrapeTimeout bounds one node's scrape; 0 takes the smaller of 10 s
	// and ScrapeInterval, as Prometheus does (see ScrapeTimeoutOrDefault).
	ScrapeTimeout Duration `json:"scrapeTimeout"`
	// Workers scrape in parallel.
	Workers int `json:"workers"`
	// KubeletInsecureTLS skips verifying kubelets' serving certificates.
	KubeletInsecureTLS bool `json:"kubeletInsecureTLS"`
	// KubeletAddressTypes orders the node address types to reach kubelets by.
	KubeletAddressTypes []string `json:"kubeletAddressTypes"`
	// KubeletScheme is https, or http for test kubelets.
	KubeletScheme string `json:"kubeletScheme"`
	// KubeletCertificateAuthority is a PEM file of the CA that signs the
	// kubelets' serving certificates (default: the cluster's CA, from the
	// kubeconfig or the pod's service account).
	KubeletCertificateAuthority string `json:"kubeletCertificateAuthority"`
	// Retention keeps history this long; RetentionBytes caps its size (0: no cap).
	Retention      Duration `json:"retention"`
	RetentionBytes int64    `json:"retentionBytes"`
	// MinFreeBytes pauses history writes while the data dir's disk has
	// less than this left (0: never), so a full disk is an alert, not a
	// crash.
	MinFreeBytes int64 `json:"minFreeBytes"`
	// PrometheusURL, when set, is a Prometheus-compatible store (Prometheus,
	// Thanos, VictoriaMetrics, Mimir) the history is read from instead of
	// scraping: nodewatch keeps no history of its own then.
	PrometheusURL string `json:"prometheusURL"`
	// RemoteWriteURL, when set, also receives every scraped sample over the
	// remote-write protocol (e.g. Prometheus' /api/v1/write).
	RemoteWriteURL string `json:"remoteWriteURL"`
	// CauseMinHistory is the least history of a pod's growth before a node
	// failure that can name it the likely cause.
	CauseMinHistory Duration `json:"causeMinHistory"`
	// LeakWindow, LeakMinGrowthMiBPerHour and ExhaustionWithin drive the
	// proactive alerts: leaks growing at least that fast over the window,
	// and leaks that will reach a limit or fill a node within that long.
	LeakWindow              Duration `json:"leakWindow"`
	LeakMinGrowthMiBPerHour float64  `json:"leakMinGrowthMiBPerHour"`
	ExhaustionWithin        Duration `json:"exhaustionWithin"`
	// ThrashingFaultRatio and ThrashingMinFaultRate make a node thrashing:
	// major page faults at that many times its baseline, and that many a second.
	ThrashingFaultRatio   float64  `json:"thrashingFaultRatio"`
	ThrashingMinFaultRate float64  `json:"thrashingMinFaultRate"`
	ThrashingWindow       Duration `json:"thrashingWindow"`
}

// ScrapeTimeoutOrDefault is ScrapeTimeout, or when it is 0 the smaller of
// 10 s and ScrapeInterval: `--scrape-interval 5s` alone needs no timeout.
func (h History) ScrapeTimeoutOrDefault() time.Duration {
	if h.ScrapeTimeout > 0 {
		return time.Duration(h.ScrapeTimeout)
	}
	if h.ScrapeInterval > 0 {
		return min(10*time.Second, time.Duration(h.ScrapeInterval))
	}
	return 10 * time.Second
}

// Rules mirrors detect.Rules in YAML form.
type Rules struct {
	LeaseRenewInterval  Duration `json:"leaseRenewInterval"`
	LeaseMissedRenewals int      `json:"leaseMissedRenewals"`
	FlapTransitions     int      `json:"flapTransitions"`
	FlapWindow          Duration `json:"flapWindow"`
	UnschedulableAfter  Duration `json:"unschedulableAfter"`
	UnavailableAfter    Duration `json:"unavailableAfter"`
	RecentWindow        Duration `json:"recentWindow"`
	WorkloadQuietPeriod Duration `json:"workloadQuietPeriod"`
}

// Slack configures the Slack sink. The webhook URL comes from
// $NODEWATCH_SLACK_WEBHOOK or WebhookURLFile.
type Slack struct {
	WebhookURLFile string  `json:"webhookURLFile"`
	RatePerSecond  float64 `json:"ratePerSecond"`
	WebhookURL     string  `json:"-"`
}

// Webhook configures the generic JSON webhook sink; the URL comes from
// $NODEWATCH_WEBHOOK_URL or URLFile.
type Webhook struct {
	URLFile string `json:"urlFile"`
	URL     string `json:"-"`
}

// Alertmanager configures the Alertmanager sink (v2 API base URL).
type Alertmanager struct {
	URL string `json:"url"`
}

// Default returns the documented defaults.
func Default() Config {
	r := detect.DefaultRules()
	return Config{
		DataDir: "./nodewatch-data", Listen: "127.0.0.1:8080",
		EvaluationInterval: Duration(time.Second), GroupWindow: Duration(30 * time.Second),
		Rules: Rules{
			LeaseRenewInterval: Duration(r.LeaseRenewInterval), LeaseMissedRenewals: r.LeaseMissedRenewals,
			FlapTransitions: r.FlapTransitions, FlapWindow: Duration(r.FlapWindow),
			UnschedulableAfter: Duration(r.UnschedulableAfter), UnavailableAfter: Duration(r.UnavailableAfter),
			RecentWindow: Duration(r.RecentWindow), WorkloadQuietPeriod: Duration(r.WorkloadQuietPeriod),
		},
		Slack:            Slack{RatePerSecond: 1},
		LogNotifications: true,
		KubeletLogLines:  20,
		History: History{
			ScrapeInterval: Duration(30 * time.Second), Workers: 16,
			KubeletAddressTypes: []string{"InternalIP", "Hostname", "ExternalIP"}, KubeletScheme: "https",
			Retention: Duration(14 * 24 * time.Hour), MinFreeBytes: 256 << 20, CauseMinHistory: Duration(10 * time.Minute),
			LeakWindow: Duration(6 * time.Hour), LeakMinGrowthMiBPerHour: 100, ExhaustionWithin: Duration(2 * time.Hour),
			ThrashingFaultRatio: 5, ThrashingMinFaultRate: 10, ThrashingWindow: Duration(5 * time.Minute),
		},
		Query:             Query{MaxSamples: 5_000_000, Timeout: Duration(30 * time.Second), MaxConcurrency: 4},
		IncidentRetention: Duration(90 * 24 * time.Hour),
	}
}

// LoadFile merges a YAML file into c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path) //nolint:gosec // G304: --config, the operator's path
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return c.load(b, path)
}

// load merges the YAML b, read from path, into c.
func (c *Config) load(b []byte, path string) error {
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// LoadSecrets fills the webhook URLs from the environment, then from the
// configured files (a file wins: it was configured explicitly), and the
// auth token from AuthTokenFile, else the environment unless a flag gave
// it. Call it once, after the flags are applied.
func (c *Config) LoadSecrets(getenv func(string) string) error {
	c.Slack.WebhookURL = getenv(EnvSlackWebhook)
	c.Webhook.URL = getenv(EnvWebhookURL)
	if v := getenv(EnvAlertmanagerURL); v != "" && c.Alertmanager.URL == "" {
		c.Alertmanager.URL = v
	}
	var tokenErr error
	if c.AuthTokenFile != "" {
		tokenErr = c.readAuthTokenFile(getenv(EnvAuthToken))
	} else if v := getenv(EnvAuthToken); v != "" && c.AuthToken == "" {
		c.AuthToken = v
	}
	read := func(field, path string, into *string) error {
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path) //nolint:gosec // G304: a *File setting's path, the operator's
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		*into = strings.TrimSpace(string(b))
		return nil
	}
	return errors.Join(
		tokenErr,
		read("slack.webhookURLFile", c.Slack.WebhookURLFile, &c.Slack.WebhookURL),
		read("webhook.urlFile", c.Webhook.URLFile, &c.Webhook.URL),
	)
}

// readAuthTokenFile sets AuthToken from AuthTokenFile, which must be the
// token's only source: with two, which one guards the daemon would depend
// on a precedence rule nobody reads. envToken is $NODEWATCH_AUTH_TOKEN.
func (c *Config) readAuthTokenFile(envToken string) error {
	switch {
	case c.AuthToken != "":
		return errors.New("authTokenFile: --auth-token and --auth-token-file (authTokenFile) both give the auth token; keep only the file")
	case envToken != "":
		return fmt.Errorf("authTokenFile: $%s and --auth-token-file (authTokenFile) both give the auth token; unset $%s", EnvAuthToken, EnvAuthToken)
	}
	token, err := ReadSecretFile(c.AuthTokenFile)
	if err != nil {
		return fmt.Errorf("authTokenFile: %w", err)
	}
	c.AuthToken = token
	return nil
}

// ReadSecretFile reads a secret (a token, a webhook URL) from a file given
// instead of a flag, which process lists would show. Trailing whitespace
// is dropped: editors and `echo` end a file with a newline that is no
// part of the secret. An empty file is an error, not a silently missing
// secret.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: a --*-file flag's path, the operator's
	if err != nil {
		return "", err // names the file and why: "open /x: permission denied"
	}
	s := strings.TrimRightFunc(string(b), unicode.IsSpace)
	if s == "" {
		return "", fmt.Errorf("%s is empty: write the secret into it", path)
	}
	return s, nil
}

// DetectRules converts the rules.
func (c *Config) DetectRules() detect.Rules {
	r := c.Rules
	return detect.Rules{
		LeaseRenewInterval: time.Duration(r.LeaseRenewInterval), LeaseMissedRenewals: r.LeaseMissedRenewals,
		FlapTransitions: r.FlapTransitions, FlapWindow: time.Duration(r.FlapWindow),
		UnschedulableAfter: time.Duration(r.UnschedulableAfter), UnavailableAfter: time.Duration(r.UnavailableAfter),
		RecentWindow: time.Duration(r.RecentWindow), WorkloadQuietPeriod: time.Duration(r.WorkloadQuietPeriod),
	}
}

// HistoryRules converts the history rules' thresholds.
func (c *Config) HistoryRules() detect.HistoryRules {
	h := c.History
	return detect.HistoryRules{
		LeakWindow: time.Duration(h.LeakWindow), LeakMinGrowth: h.LeakMinGrowthMiBPerHour * (1 << 20),
		ExhaustionWithin: time.Duration(h.ExhaustionWithin), FaultRatio: h.ThrashingFaultRatio, MinFaultRate: h.ThrashingMinFaultRate,
		ThrashingWindow: time.Duration(h.ThrashingWindow),
	}
}

// loopback reports whether a listen host is reachable from this machine only.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate reports every invalid field at once; it changes nothing.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DataDir == "" {
		add("dataDir: must be set")
	}
	if host, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port: %v", c.Listen, err)
	} else if !loopback(host) && c.AuthToken == "" && !c.InsecureListen {
		add("authToken: listen %q is reachable beyond this machine: set an auth token (--auth-token-file, --auth-token or $%s), "+
			"or set insecureListen (--insecure-listen) to serve the dashboard and APIs without one", c.Listen, EnvAuthToken)
	}
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || u.Scheme == "" || u.Host == "" {
			add("externalURL: %q is not an absolute URL", c.ExternalURL)
		}
	}
	if c.Query.MaxSamples <= 0 {
		add("query.maxSamples: must be positive, got %d", c.Query.MaxSamples)
	}
	if c.Query.Timeout <= 0 {
		add("query.timeout: must be positive, got %s", time.Duration(c.Query.Timeout))
	}
	if c.Query.MaxConcurrency <= 0 {
		add("query.maxConcurrency: must be positive, got %d", c.Query.MaxConcurrency)
	}
	if c.IncidentRetention < Duration(24*time.Hour) {
		add("incidentRetention: must be at least 24h, got %s", time.Duration(c.IncidentRetention))
	}
	if c.KubeletLogLines < 0 || c.KubeletLogLines > incident.MaxKubeletLogLines {
		add("kubeletLogLines: must be in [0, %d], got %d", incident.MaxKubeletLogLines, c.KubeletLogLines)
	}
	if c.EvaluationInterval <= 0 {
		add("evaluationInterval: must be positive, got %s", time.Duration(c.EvaluationInterval))
	}
	if c.GroupWindow < 0 {
		add("groupWindow: must not be negative, got %s", time.Duration(c.GroupWindow))
	}
	if err := c.DetectRules().Validate("rules"); err != nil {
		errs = append(errs, err)
	}
	if err := c.HistoryRules().Validate("history"); err != nil {
		errs = append(errs, err)
	}
	h := c.History
	if h.ScrapeInterval < 0 {
		add("history.scrapeInterval: must not be negative (0 turns scraping off), got %s", time.Duration(h.ScrapeInterval))
	}
	if h.ScrapeTimeout < 0 || (h.ScrapeInterval > 0 && h.ScrapeTimeout > h.ScrapeInterval) {
		add("history.scrapeTimeout: must be at most history.scrapeInterval (0: the smaller of 10s and it), got %s", time.Duration(h.ScrapeTimeout))
	}
	if h.Workers < 1 {
		add("history.workers: must be at least 1, got %d", h.Workers)
	}
	for _, t := range h.KubeletAddressTypes {
		if t != "InternalIP" && t != "Hostname" && t != "ExternalIP" && t != "InternalDNS" && t != "ExternalDNS" {
			add("history.kubeletAddressTypes: unknown address type %q (InternalIP, Hostname, ExternalIP, InternalDNS, ExternalDNS)", t)
		}
	}
	if len(h.KubeletAddressTypes) == 0 {
		add("history.kubeletAddressTypes: must name at least one address type")
	}
	if h.KubeletScheme != "https" && h.KubeletScheme != "http" {
		add("history.kubeletScheme: must be https or http, got %q", h.KubeletScheme)
	}
	if h.Retention <= 0 {
		add("history.retention: must be positive, got %s", time.Duration(h.Retention))
	}
	if time.Duration(h.CauseMinHistory) < time.Minute {
		add("history.causeMinHistory: must be at least 1m, got %s", time.Duration(h.CauseMinHistory))
	}
	if h.PrometheusURL != "" {
		if u, err := url.Parse(h.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("history.prometheusURL: want http(s)://host[:port][/prefix], got %s", notify.Redact(h.PrometheusURL))
		}
		if h.RemoteWriteURL != "" {
			add("history.remoteWriteURL: forwards what nodewatch scrapes, and with history.prometheusURL it does not scrape; set one of them")
		}
	}
	if h.RemoteWriteURL != "" {
		if u, err := url.Parse(h.RemoteWriteURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("history.remoteWriteURL: want http(s)://host[:port]/path, got %s", notify.Redact(h.RemoteWriteURL))
		} else if h.ScrapeInterval == 0 {
			add("history.remoteWriteURL: needs history.scrapeInterval > 0 (it forwards what nodewatch scrapes)")
		}
	}
	if h.RetentionBytes < 0 {
		add("history.retentionBytes: must not be negative")
	}
	if h.MinFreeBytes < 0 {
		add("history.minFreeBytes: must not be negative")
	}
	if c.Slack.RatePerSecond < 0 {
		add("slack.ratePerSecond: must not be negative")
	}
	for field, raw := range map[string]string{"slack webhook ($" + EnvSlackWebhook + ")": c.Slack.WebhookURL,
		"webhook URL ($" + EnvWebhookURL + ")": c.Webhook.URL, "alertmanager.url": c.Alertmanager.URL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s: %s is not an http(s) URL", field, notify.Redact(raw))
		}
	}
	return errors.Join(errs...)
}

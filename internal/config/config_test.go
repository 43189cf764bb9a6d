package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.DetectRules().LeaseMissedRenewals != 3 || time.Duration(c.GroupWindow) != 30*time.Second {
		t.Errorf("defaults changed: %+v", c)
	}
}

func TestLoadFile(t *testing.T) {
	c := Default()
	p := write(t, "c.yaml", "dataDir: /var/lib/nodewatch\ngroupWindow: 10s\nrules:\n  leaseMissedRenewals: 5\n  flapWindow: 30m\nalertmanager:\n  url: http://am:9093\n")
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/nodewatch" || time.Duration(c.GroupWindow) != 10*time.Second ||
		c.Rules.LeaseMissedRenewals != 5 || time.Duration(c.Rules.FlapWindow) != 30*time.Minute || c.Alertmanager.URL != "http://am:9093" {
		t.Errorf("loaded %+v", c)
	}
	if c.Listen != "127.0.0.1:8080" {
		t.Errorf("a key absent from the file lost its default: listen=%q", c.Listen)
	}
}

// aliasBomb is a "billion laughs" YAML: levels of anchors, each nine
// aliases of the one before (9^levels strings once expanded).
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		ref := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.Repeat(ref+", ", 8)+ref)
	}
	return b.String()
}

func TestLoadFileErrors(t *testing.T) {
	cases := map[string]string{
		"unknown key":  "dataDir: x\nslackWebhook: https://hooks.slack.com/services/T/B/secret\n",
		"bad duration": "groupWindow: soon\n",
		"not YAML":     "rules: [\n",
		"alias bomb":   aliasBomb(9),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			err := c.LoadFile(write(t, "c.yaml", content))
			if err == nil || !strings.Contains(err.Error(), "c.yaml") {
				t.Fatalf("error %v, want one naming the file", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error repeats a secret: %v", err)
			}
		})
	}
}

func TestValidateNamesEveryField(t *testing.T) {
	c := Default()
	c.Listen = "nowhere"
	c.GroupWindow = Duration(-time.Second)
	c.Rules.LeaseMissedRenewals = 0
	c.Slack.WebhookURL = "hooks.slack.com/services/T/B/secret"
	c.ExternalURL = "/relative"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, field := range []string{"listen:", "groupWindow:", "rules.leaseMissedRenewals:", "slack webhook", "externalURL:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error repeats the webhook secret:\n%v", err)
	}
}

// TestHistorySources: the history is scraped, or read from a Prometheus,
// and remote write forwards only what is scraped.
func TestHistorySources(t *testing.T) {
	cases := []struct {
		name, prom, rw string
		scrape         time.Duration
		wantErr        string
	}{
		{"scrape only", "", "", 30 * time.Second, ""},
		{"read a Prometheus", "http://prometheus:9090", "", 30 * time.Second, ""},
		{"forward scrapes", "", "https://user:pw@mimir/api/v1/push", 30 * time.Second, ""},
		{"both", "http://prometheus:9090", "http://prometheus:9090/api/v1/write", 30 * time.Second, "set one of them"},
		{"forward without scraping", "", "http://prometheus:9090/api/v1/write", 0, "needs history.scrapeInterval"},
		{"not a URL", "prometheus:9090", "", 30 * time.Second, "history.prometheusURL"},
		{"secret in a bad URL", "", "mimir/push?token=secret", 30 * time.Second, "history.remoteWriteURL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.History.PrometheusURL, c.History.RemoteWriteURL, c.History.ScrapeInterval = tc.prom, tc.rw, Duration(tc.scrape)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadSecrets(t *testing.T) {
	c := Default()
	env := map[string]string{EnvSlackWebhook: "https://hooks.slack.com/services/env", EnvAlertmanagerURL: "http://am:9093"}
	c.Webhook.URLFile = write(t, "url", "https://example.com/hook\n")
	if err := c.LoadSecrets(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Slack.WebhookURL != env[EnvSlackWebhook] || c.Webhook.URL != "https://example.com/hook" || c.Alertmanager.URL != "http://am:9093" {
		t.Errorf("secrets: %+v %+v %+v", c.Slack, c.Webhook, c.Alertmanager)
	}
	c.Slack.WebhookURLFile = "/nonexistent/slack"
	if err := c.LoadSecrets(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "slack.webhookURLFile") {
		t.Errorf("missing secret file: %v", err)
	}
}

// FuzzLoad: no config file panics the loader or Validate; a file that does
// not load says which file; what one that loads holds is all kept: written
// back as YAML and loaded again, it is the same configuration.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"dataDir: /var/lib/nodewatch\ngroupWindow: 10s\nrules:\n  leaseMissedRenewals: 5\n  flapWindow: 30m\nalertmanager:\n  url: http://am:9093\n",
		"listen: 0.0.0.0:8080\ninsecureListen: true\nexternalURL: https://nodewatch.example\n",
		"history:\n  scrapeInterval: 0s\n  prometheusURL: http://prom:9090\n  kubeletAddressTypes: [Hostname]\n",
		"history:\n  remoteWriteURL: http://r/api/v1/write\n  retention: -1h\n  workers: 0\n",
		"kubeletLogLines: 1000000\nevaluationInterval: 0s\n",
		"groupWindow: soon\n", "rules: [\n", "{}", "null", "- a\n- b\n", "dataDir: [1, 2]\n", "&a [*a]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if err := c.load(b, "c.yaml"); err != nil {
			if !strings.Contains(err.Error(), "c.yaml") {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		_ = c.Validate()
		c.DetectRules()
		c.HistoryRules()
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("writing a loaded config back: %v", err)
		}
		again := Default()
		if err := again.load(out, "again.yaml"); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("a loaded config written back does not load the same (%v):\n%s", err, out)
		}
	})
}

// TestScrapeTimeoutDerived: `--scrape-interval 5s` alone is taken, the
// timeout being the smaller of 10 s and the interval, as Prometheus
// defaults it; a timeout set past the interval is still refused.
func TestScrapeTimeoutDerived(t *testing.T) {
	for _, tc := range []struct {
		interval, timeout, want time.Duration
	}{{5 * time.Second, 0, 5 * time.Second}, {30 * time.Second, 0, 10 * time.Second}, {30 * time.Second, 20 * time.Second, 20 * time.Second}} {
		c := Default()
		c.History.ScrapeInterval, c.History.ScrapeTimeout = Duration(tc.interval), Duration(tc.timeout)
		if err := c.Validate(); err != nil {
			t.Errorf("interval %s timeout %s: %v", tc.interval, tc.timeout, err)
		}
		if got := c.History.ScrapeTimeoutOrDefault(); got != tc.want {
			t.Errorf("interval %s timeout %s: %s, want %s", tc.interval, tc.timeout, got, tc.want)
		}
	}
	c := Default()
	c.History.ScrapeInterval, c.History.ScrapeTimeout = Duration(5*time.Second), Duration(10*time.Second)
	if err := c.Validate(); err == nil {
		t.Error("a 10s timeout with a 5s interval was taken")
	}
}

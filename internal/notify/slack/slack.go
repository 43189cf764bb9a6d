// Package slack sends nodewatch messages to a Slack incoming webhook as
// Block Kit messages (built with slack-go's types), within Slack's limits,
// and tells the caller when Slack asks it to slow down.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify"
)

// Notifier posts to one incoming webhook.
type Notifier struct {
	url    string
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a notifier for the webhook URL. client may be nil.
func New(webhookURL string, client *http.Client) (*Notifier, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("slack webhook URL %s: want an http(s) URL such as https://hooks.slack.com/services/...", notify.Redact(webhookURL)) //nolint:staticcheck // ST1005: the ellipsis is part of the example URL
	}
	if client == nil {
		// A redirect would carry the message (and the webhook's secret
		// path in Referer-like logs) elsewhere: refused, as by the other sinks.
		client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Notifier{url: webhookURL, client: client}, nil
}

// Notify posts m; notify.Post says what is retryable.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) (bool, error) {
	body, err := json.Marshal(Render(m))
	if err != nil {
		return false, fmt.Errorf("slack: encoding message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("slack: %s: %w", notify.Redact(n.url), notify.RedactErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	return notify.Post(n.client, req, "slack", time.Now())
}

// Package slack sends nodewatch messages to a Slack incoming webhook as
// Block Kit messages (built with slack-go's types), within Slack's limits,
// and tells the caller when Slack asks it to slow down.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
		return nil, fmt.Errorf("slack webhook URL %s: want an http(s) URL such as https://hooks.slack.com/services/...", notify.Redact(webhookURL))
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Notifier{url: webhookURL, client: client}, nil
}

// Notify posts m. Network errors, 5xx and 429 are retryable; a 429's
// Retry-After is returned as a notify.ThrottledError.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) (bool, error) {
	body, err := json.Marshal(Render(m))
	if err != nil {
		return false, fmt.Errorf("slack: encoding message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("slack: %s: %w", notify.Redact(n.url), redactErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("slack: posting to %s: %w", notify.Redact(n.url), redactErr(err))
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode == http.StatusOK {
		return false, nil
	}
	err = fmt.Errorf("slack: %s answered %s: %s", notify.Redact(n.url), resp.Status, strings.TrimSpace(string(reply)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, &notify.ThrottledError{After: retryAfter(resp.Header.Get("Retry-After")), Err: err}
	case resp.StatusCode >= 500:
		return true, err
	default:
		return false, err
	}
}

// retryAfter parses Retry-After in seconds or as an HTTP date; Slack sends
// seconds. A missing or bad value means one second, Slack's documented rate.
func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return time.Second
}

// redactErr strips the URL from net/http's errors, which quote it whole.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Package webhook posts nodewatch messages as JSON to any HTTP endpoint, in
// a documented, stable schema (docs/webhook-schema.md) with the message key
// as an Idempotency-Key header, so receivers can deduplicate retries. Extra
// headers (an Authorization token, say) come from Options and never appear
// in errors; neither does the URL's path, where webhook secrets live.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify"
)

// DefaultTimeout bounds one delivery when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a webhook.
type Options struct {
	// URL receives the POST; http or https.
	URL string
	// Headers are added to every request, e.g. Authorization. They may not
	// replace the headers the schema defines (Content-Type, Idempotency-Key).
	Headers map[string]string
	// Timeout bounds one delivery, connection to last byte of the reply;
	// zero means DefaultTimeout.
	Timeout time.Duration
}

// reserved are headers the sink sets itself or that net/http owns.
var reserved = map[string]bool{"Content-Type": true, "Content-Length": true, "Idempotency-Key": true, "Host": true, "Transfer-Encoding": true, "Connection": true}

// Validate reports every problem with o, naming the field.
func (o *Options) Validate() error {
	var errs []error
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("webhook url %s: want an absolute http(s) URL", notify.Redact(o.URL)))
	}
	for k, v := range o.Headers {
		switch {
		case !notify.ValidHeaderName(k):
			errs = append(errs, fmt.Errorf("webhook headers: %q is not a valid header name", k))
		case reserved[http.CanonicalHeaderKey(k)]:
			errs = append(errs, fmt.Errorf("webhook headers: %s is set by nodewatch and cannot be overridden", http.CanonicalHeaderKey(k)))
		case strings.ContainsAny(v, "\r\n\x00"):
			// The value may be a secret: name the header, not its value.
			errs = append(errs, fmt.Errorf("webhook headers: the value of %s contains a line break or NUL", k))
		}
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("webhook timeout: %s is negative", o.Timeout))
	}
	return errors.Join(errs...)
}

// Notifier posts to one webhook.
type Notifier struct {
	url     string
	headers http.Header
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates o and returns its notifier. client may be nil: the default
// does not follow redirects, and a 3xx reply is an error.
func New(o Options, client *http.Client) (*Notifier, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		// A redirected POST would turn into a GET (301-303) or carry the
		// headers elsewhere: a webhook URL must be the final one.
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	n := &Notifier{url: o.URL, headers: http.Header{}, timeout: o.Timeout, client: client, now: time.Now}
	if n.timeout == 0 {
		n.timeout = DefaultTimeout
	}
	for k, v := range o.Headers {
		n.headers.Set(k, v)
	}
	return n, nil
}

// Notify posts m. A 2xx reply is success. Network errors, timeouts, 5xx and
// 429 are retryable; a 429 with Retry-After is a notify.ThrottledError. Other
// replies (4xx) mean the receiver refused the message: not retryable.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) (bool, error) {
	p, err := Render(m)
	if err != nil {
		return false, fmt.Errorf("webhook: %w", err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("webhook: encoding message %q: %w", m.Key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook: %s: %w", notify.Redact(n.url), notify.RedactErr(err))
	}
	for k, v := range n.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nodewatch")
	if m.Key != "" {
		req.Header.Set("Idempotency-Key", m.Key)
	}
	return notify.Post(n.client, req, "webhook", n.now())
}

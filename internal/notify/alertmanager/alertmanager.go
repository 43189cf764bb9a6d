// Package alertmanager hands nodewatch messages to a Prometheus Alertmanager
// through its v2 API (POST <base>/api/v2/alerts), so teams that already route,
// group, silence and inhibit with Alertmanager get node failures there too.
//
// A message becomes one alert per node and one per failing workload (or one
// alert for the message itself when it has neither). Labels identify an
// alert: alertname (the rule, e.g. NodeNotReady), severity, incident,
// source="nodewatch" and node, or namespace, workload_kind and workload.
// Annotations carry summary (the title), description (what is wrong and
// which pods are affected, cut to a few thousand characters) and pods (how
// many). startsAt is the incident's start; generatorURL its page.
//
// Resolving: a resolved message is posted with the same labels and an
// endsAt (the incident's end), which resolves the alerts at once. It must
// therefore list the same nodes and workloads as the firing message did; an
// alert it leaves out is resolved only by the timeout below.
//
// Firing alerts are posted without endsAt, so Alertmanager applies its
// resolve_timeout (global config, 5m by default): an alert not posted again
// within that time is resolved by Alertmanager itself. Keeping a long
// incident firing is the sender's job: post the firing message again more
// often than resolve_timeout.
//
// Tested against a real Alertmanager v0.31.1 (alertmanager_real_test.go;
// hack/build-peers.sh builds it).
package alertmanager

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

// Options configure the sink.
type Options struct {
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093, with
	// any path prefix it is served under (--web.route-prefix); alerts go to
	// <URL>/api/v2/alerts. Basic-auth credentials may be given in the URL.
	URL string
	// Headers are added to every request, e.g. Authorization for a proxy
	// in front of Alertmanager.
	Headers map[string]string
	// Timeout bounds one delivery; zero means DefaultTimeout.
	Timeout time.Duration
}

var reserved = map[string]bool{"Content-Type": true, "Content-Length": true, "Host": true, "Transfer-Encoding": true, "Connection": true}

// Validate reports every problem with o, naming the field.
func (o *Options) Validate() error {
	var errs []error
	u, err := url.Parse(o.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("alertmanager url %s: want Alertmanager's base URL, such as http://alertmanager:9093", notify.Redact(o.URL)))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("alertmanager url %s: want a base URL without query or fragment", notify.Redact(o.URL)))
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v2/alerts"):
		errs = append(errs, fmt.Errorf("alertmanager url %s: give the base URL; nodewatch appends /api/v2/alerts", notify.Redact(o.URL)))
	}
	for k, v := range o.Headers {
		switch {
		case !notify.ValidHeaderName(k):
			errs = append(errs, fmt.Errorf("alertmanager headers: %q is not a valid header name", k))
		case reserved[http.CanonicalHeaderKey(k)]:
			errs = append(errs, fmt.Errorf("alertmanager headers: %s is set by nodewatch and cannot be overridden", http.CanonicalHeaderKey(k)))
		case strings.ContainsAny(v, "\r\n\x00"):
			errs = append(errs, fmt.Errorf("alertmanager headers: the value of %s contains a line break or NUL", k))
		}
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("alertmanager timeout: %s is negative", o.Timeout))
	}
	return errors.Join(errs...)
}

// Notifier posts to one Alertmanager.
type Notifier struct {
	endpoint string // <base>/api/v2/alerts
	headers  http.Header
	timeout  time.Duration
	client   *http.Client
	now      func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates o and returns its notifier. client may be nil: the default
// does not follow redirects, and a 3xx reply is an error.
func New(o Options, client *http.Client) (*Notifier, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	endpoint, err := url.JoinPath(o.URL, "api/v2/alerts")
	if err != nil {
		return nil, fmt.Errorf("alertmanager url %s: %w", notify.Redact(o.URL), err)
	}
	if client == nil {
		// A 301-303 would turn the POST into a GET, which Alertmanager
		// answers 200 with its alert list: a silent loss.
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	n := &Notifier{endpoint: endpoint, headers: http.Header{}, timeout: o.Timeout, client: client, now: time.Now}
	if n.timeout == 0 {
		n.timeout = DefaultTimeout
	}
	for k, v := range o.Headers {
		n.headers.Set(k, v)
	}
	return n, nil
}

// Notify posts m's alerts in one request. Alertmanager answers 200 when it
// took them all. Network errors, timeouts, 5xx and 429 are retryable (a
// 429's Retry-After comes back as a notify.ThrottledError); a 4xx means
// Alertmanager refused the alerts and is not.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) (bool, error) {
	alerts, err := Alerts(m, n.now())
	if err != nil {
		return false, fmt.Errorf("alertmanager: %w", err)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return false, fmt.Errorf("alertmanager: encoding message %q: %w", m.Key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("alertmanager: %s: %w", notify.Redact(n.endpoint), notify.RedactErr(err))
	}
	for k, v := range n.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nodewatch")
	return notify.Post(n.client, req, "alertmanager", n.now())
}

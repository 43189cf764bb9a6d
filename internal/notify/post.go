package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Post sends req for the named sink and reads the answer the same way for
// every HTTP sink: a 2xx is delivered; network errors, timeouts, 5xx and
// 429 are retryable (a 429's Retry-After comes back as a ThrottledError);
// anything else is refused for good. Errors name the sink and the redacted
// URL and quote the start of the reply; the rest of the reply is drained,
// bounded, so the connection can be reused.
func Post(client *http.Client, req *http.Request, sink string, now time.Time) (retry bool, err error) {
	where := Redact(req.URL.String())
	resp, err := client.Do(req) //nolint:gosec // G704: the sink's URL, which the operator configured
	if err != nil {
		return true, fmt.Errorf("%s: posting to %s: %w", sink, where, RedactErr(err))
	}
	defer func() { _ = resp.Body.Close() }() // the reply is read; its close has nothing to report
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("%s: %s answered %s%s", sink, where, resp.Status, excerpt(reply))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return true, &ThrottledError{After: d, Err: err}
		}
		return true, err
	case resp.StatusCode >= 500:
		return true, err
	default:
		return false, err
	}
}

// excerpt quotes the start of a reply body for an error message.
func excerpt(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if s == "" {
		return ""
	}
	return ": " + strconv.Quote(s)
}

// maxRetryAfter caps a receiver's Retry-After: a message is held at most a
// day for it, however far off the receiver asks us to come back.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After as seconds or an HTTP date, either capped
// at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, int64(maxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// RedactErr strips the URL from net/http's errors, which quote it whole.
func RedactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// ValidHeaderName reports whether s is an RFC 9110 token.
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

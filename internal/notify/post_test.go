package notify

import (
	"net/http"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"99999999999", 24 * time.Hour, true},
		{at.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{at.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 24 * time.Hour, true},
	}
	for _, tc := range cases {
		if got, ok := parseRetryAfter(tc.in, at); got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzRetryAfter: a receiver's Retry-After header, whatever it holds, is
// either refused or a wait in [0, maxRetryAfter].
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "99999999999", " 7 ", "Fri, 31 Dec 9999 23:59:59 GMT",
		at.Format(http.TimeFormat), "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, at)
		if !ok && d != 0 {
			t.Fatalf("refused %q but waits %v", v, d)
		}
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q: wait %v outside [0, %v]", v, d, maxRetryAfter)
		}
	})
}

package kube

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// TestKubeletLog against an API server that proxies to kubelets: one answers
// log queries, some do not serve them (404; a /var/log listing without
// NodeLogQuery; 400), RBAC forbids one, and the API server itself refuses to
// proxy to a loopback node address (as on the simulated cluster).
func TestKubeletLog(t *testing.T) {
	from := time.Date(2026, 11, 29, 11, 40, 0, 0, time.UTC)
	to := from.Add(20 * time.Minute)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := func(code int, reason string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, code) // the client under test sees what arrived
		}
		switch r.URL.Path {
		case "/api/v1/nodes/n1/proxy/logs/":
			q := r.URL.Query()
			if q.Get("query") != "kubelet" || q.Get("sinceTime") != "2026-11-29T11:40:00Z" || q.Get("untilTime") != "2026-11-29T12:00:00Z" || q.Get("tailLines") != "2" {
				t.Errorf("query %s", r.URL.RawQuery)
			}
			_, _ = fmt.Fprint(w, "I1129 11:51:02 eviction_manager.go:366] eviction manager: attempting to reclaim memory\n\nE1129 11:51:20 kubelet.go:2352] PLEG is not healthy: pleg was last seen active 3m0s ago\nE1129 11:51:40 kubelet.go:2400] extra line beyond tailLines\n") // the client under test sees what arrived
		case "/api/v1/nodes/n2/proxy/logs/":
			status(http.StatusNotFound, "NotFound")
		case "/api/v1/nodes/n4/proxy/logs/": // a kubelet without NodeLogQuery
			_, _ = fmt.Fprint(w, "<pre>\n<a href=\"apt/\">apt/</a>\n<a href=\"journal/\">journal/</a>\n</pre>\n") // the client under test sees what arrived
		case "/api/v1/nodes/n6/proxy/logs/": // the API server's answer for a node at 127.0.0.1
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"address not allowed","reason":"BadRequest","code":400}`) // the client under test sees what arrived
		case "/api/v1/nodes/n5/proxy/logs/":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprint(w, "query not supported\nsecond line") // the client under test sees what arrived
		default:
			status(http.StatusForbidden, "Forbidden")
		}
	}))
	defer srv.Close()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lines, err := KubeletLog(ctx, c, "n1", from, to, 2)
	if err != nil || len(lines) != 2 || !strings.Contains(lines[0], "PLEG is not healthy") || !strings.Contains(lines[1], "extra line") {
		t.Errorf("n1: %q %v (want the last 2 non-empty lines)", lines, err)
	}
	if _, err := KubeletLog(ctx, c, "n2", from, to, 2); err == nil || !strings.Contains(err.Error(), "n2's kubelet does not answer log queries") {
		t.Errorf("n2: %v", err)
	}
	if _, err := KubeletLog(ctx, c, "n3", from, to, 2); err == nil || !strings.Contains(err.Error(), "needs get on nodes/proxy") {
		t.Errorf("n3: %v", err)
	}
	if _, err := KubeletLog(ctx, c, "n4", from, to, 2); err == nil || !strings.Contains(err.Error(), "n4's kubelet does not answer log queries: it listed its /var/log") {
		t.Errorf("n4: %v", err)
	}
	if _, err := KubeletLog(ctx, c, "n5", from, to, 2); err == nil || err.Error() != "n5's kubelet refused the log query (HTTP 400: query not supported)" {
		t.Errorf("n5: %v", err)
	}
	if _, err := KubeletLog(ctx, c, "n6", from, to, 2); err == nil || !strings.HasPrefix(err.Error(), "n6's kubelet log cannot be read through the API server: it does not proxy to the node's address") {
		t.Errorf("n6: %v", err)
	}
	if _, err := KubeletLog(ctx, fake.NewClientset(), "n1", from, to, 2); err == nil {
		t.Error("a fake clientset has no API server to ask")
	}
}

// TestLastLines: a line longer than any scanner buffer is kept, not an
// error that loses the lines after it; CRLF endings and blank lines go.
func TestLastLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	got := lastLines([]byte("a\r\n"+long+"\n\r\n\nE1129 last\r\n"), 5)
	if len(got) != 3 || got[0] != "a" || got[1] != long || got[2] != "E1129 last" {
		t.Errorf("got %d lines, want a, the 3 MiB line and E1129 last", len(got))
	}
	if got := lastLines([]byte("one\ntwo\nthree"), 2); !slices.Equal(got, []string{"two", "three"}) {
		t.Errorf("tail 2 of a body without a final newline: %q", got)
	}
	if got := lastLines([]byte("one\n"), 0); len(got) != 0 {
		t.Errorf("tail 0: %q", got)
	}
}

// FuzzLastLines: whatever a kubelet answers, the lines kept are the last
// tail non-empty lines of the body, as splitting it whole would give them.
func FuzzLastLines(f *testing.F) {
	f.Add([]byte("I1129 a\n\nE1129 b\r\nc"), 2)
	f.Add([]byte("\n\r\n\r"), 3)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, b []byte, tail int) {
		tail = int(uint(tail) % 64)
		var want []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSuffix(l, "\r"); l != "" {
				want = append(want, l)
			}
		}
		want = want[max(0, len(want)-tail):]
		if got := lastLines(b, tail); !slices.Equal(got, want) {
			t.Fatalf("lastLines(%q, %d) = %q, want %q", b, tail, got, want)
		}
	})
}

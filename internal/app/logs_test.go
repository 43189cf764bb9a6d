package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
)

func TestLogTailsExcludedNamespace(t *testing.T) {
	r := &health.WorkloadReport{Namespace: "payments", Kind: "Deployment", Name: "api", Pods: []health.FailingPod{
		{Name: "a", Container: "api", Reason: "CrashLoopBackOff"}}}
	if tails := logTails(context.Background(), fake.NewClientset(), r, []string{"kube-system", "payments"}); len(tails) != 0 {
		t.Errorf("an excluded namespace's log left: %q", tails)
	}
}

// TestScrub: the obvious secrets a crashing program prints are hidden,
// the rest of the line kept.
func TestScrub(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Authorization: Bearer abcdef0123456789", "Authorization: Bearer <redacted>"},
		{`connecting with password=hunter2 to db`, `connecting with password=<redacted> to db`},
		{`{"api_key": "sk_live_123456"}`, `{"api_key": "<redacted>"}`},
		{"DB_PASSWORD=s3cr3t!", "DB_PASSWORD=<redacted>"},
		{"dial postgres://app:s3cret@db:5432/x failed", "dial postgres://<redacted>@db:5432/x failed"},
		{"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "token <redacted JWT>"},
		{"key AKIAIOSFODNN7EXAMPLE used", "key <redacted AWS key> used"},
		{"panic: runtime error: index out of range [3] with length 3", "panic: runtime error: index out of range [3] with length 3"},
		{"exec: \"send-digets\": executable file not found in $PATH", "exec: \"send-digets\": executable file not found in $PATH"},
	} {
		if got := Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLogTails(t *testing.T) {
	client := fake.NewClientset()
	r := &health.WorkloadReport{Namespace: "emails", Kind: "Deployment", Name: "digest", Pods: []health.FailingPod{
		{Name: "a", Container: "digest", Reason: "CrashLoopBackOff"},
		{Name: "b", Container: "", Reason: "CrashLoopBackOff"},
		{Name: "c", Container: "digest", Reason: "Unschedulable"},
		{Name: "d", Container: "digest", Reason: "CrashLoopBackOff"},
	}}
	tails := logTails(context.Background(), client, r, nil)
	// The fake clientset answers every log request with "fake logs".
	if got := tails["a"]; len(got) != 1 || got[0] != "fake logs" {
		t.Errorf("pod a: %q, want the previous container's log", got)
	}
	if len(tails) != 1 {
		t.Errorf("tails %q; want only pod a's (b has no container, c is unschedulable, d is past the %d-pod limit)", tails, logTailPods)
	}
}

// logRequester is an incident manager with fixed requests, recording the
// answers.
type logRequester struct {
	mu      sync.Mutex
	reqs    []incident.LogRequest
	answers map[string]string // incident → lines or error
	done    chan struct{}
}

func (r *logRequester) KubeletLogRequests() []incident.LogRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func (r *logRequester) AttachKubeletLog(id string, lines []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.answers[id] = "error: " + err.Error()
	} else {
		r.answers[id] = strings.Join(lines, "|")
	}
	if len(r.answers) == 2 {
		close(r.done)
	}
}

// The daemon reads each requested kubelet log through the API server's node
// proxy, over the incident's range, and hands back the lines or the error.
func TestReadKubeletLogs(t *testing.T) {
	from := time.Date(2026, 11, 29, 11, 40, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/nodes/n1/proxy/logs/" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if q := r.URL.Query(); q.Get("sinceTime") != "2026-11-29T11:40:00Z" || q.Get("tailLines") != "20" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		_, _ = fmt.Fprint(w, "E1129 kubelet.go:2352] PLEG is not healthy\nE1129 kubelet.go:2400] Node became not ready\n") // the client under test sees what arrived
	}))
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := &logRequester{answers: map[string]string{}, done: make(chan struct{}), reqs: []incident.LogRequest{
		{Incident: "i1", Node: "n1", From: from, To: from.Add(12 * time.Minute)},
		{Incident: "i2", Node: "n2", From: from, To: from.Add(12 * time.Minute)},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { readKubeletLogs(ctx, client, r, 20); close(finished) }()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answers within 10 s")
	}
	cancel()
	<-finished
	if got := r.answers["i1"]; got != "E1129 kubelet.go:2352] PLEG is not healthy|E1129 kubelet.go:2400] Node became not ready" {
		t.Errorf("i1: %q", got)
	}
	if got := r.answers["i2"]; !strings.Contains(got, "error: n2's kubelet does not answer log queries") {
		t.Errorf("i2: %q", got)
	}
}

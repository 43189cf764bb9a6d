package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

var at = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// secret stands for what a webhook URL and its Authorization header hide.
const secret = "s3cr3t-t0ken"

func i64(v int64) *int64 { return &v }

// firing is an incident as the daemon reports it: a node down with its
// pods, a workload failing, a pod that cannot be scheduled.
func firing() *notify.Message {
	since := at.Add(-90 * time.Second)
	pending := at.Add(-10 * time.Minute)
	return &notify.Message{
		Key: "inc-7/firing", IncidentID: "inc-7", Rule: "NodeNotReady", Severity: "critical", Status: notify.Firing,
		Title: "1 of 3 nodes not Ready", Text: "ip-172-20-1-11 stopped reporting 90 s ago.",
		At: at, StartsAt: since, URL: "https://nodewatch.example/incidents/inc-7",
		Nodes: []health.NodeReport{{
			Name: "ip-172-20-1-11", Ready: "Unknown", Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
			Since: &since, Problems: []string{"NotReady"},
			Conditions: []cluster.Condition{{Type: "Ready", Status: "Unknown", Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", Since: since}},
			Pods: []health.PodReport{
				{Namespace: "emails", Name: "unanswered-emails-x7k2p", Owner: cluster.Owner{Kind: "ReplicationController", Name: "unanswered-emails"},
					Phase: "Running", QOS: "BestEffort", Restarts: 7},
				{Namespace: "shop", Name: "web-5d9f-abcde", Owner: cluster.Owner{Kind: "Deployment", Name: "web"},
					Phase: "Running", QOS: "Burstable", MemoryRequest: i64(256 << 20), MemoryLimit: i64(512 << 20)},
			},
		}},
		Unschedulable: []health.PodReport{{Namespace: "web", Name: "frontend-x", Owner: cluster.Owner{Kind: "Deployment", Name: "frontend"},
			Phase: "Pending", QOS: "Burstable", Message: "0/3 nodes are available: 3 Insufficient memory.", Since: &pending}},
		Workloads: []notify.WorkloadReport{{Namespace: "batch", Kind: "CronJob", Name: "report", Reason: "OOMKilled",
			Pods: []notify.FailingPod{{Name: "report-29012-xk2", Node: "ip-172-20-1-12", Container: "main", Reason: "OOMKilled",
				ExitCode: 137, Restarts: 4, LogTail: []string{"java.lang.OutOfMemoryError: Java heap space"}}}}},
	}
}

func resolved() *notify.Message {
	m := firing()
	m.Key, m.Status, m.Title, m.Text = "inc-7/resolved", notify.Resolved, "ip-172-20-1-11 is Ready again", ""
	m.At = at.Add(5 * time.Minute)
	m.EndsAt = at.Add(4 * time.Minute)
	return m
}

func TestPayloadGolden(t *testing.T) {
	cases := []struct {
		name string
		msg  *notify.Message
	}{
		{"firing", firing()},
		{"resolved", resolved()},
		{"check", notify.FromReport(&health.Report{CheckedAt: at, NodeCount: 3, Nodes: []health.NodeReport{{Name: "n1", Ready: "False", Problems: []string{"NotReady"}}}})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Render(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, tc.name+".json", p)
		})
	}
}

// TestPayloadSchema pins what receivers rely on: every documented field is
// present with its JSON type, endsAt is null while firing and set when
// resolved, and lists are [] rather than null.
func TestPayloadSchema(t *testing.T) {
	decode := func(m *notify.Message) map[string]any {
		p, err := Render(m)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	f := decode(firing())
	for _, k := range []string{"version", "idempotencyKey", "incidentId", "rule", "severity", "status", "title", "text", "at", "startsAt", "endsAt", "url", "nodes", "unschedulable", "workloads"} {
		if _, ok := f[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if f["version"] != "1" || f["status"] != "firing" || f["endsAt"] != nil || f["idempotencyKey"] != "inc-7/firing" {
		t.Errorf("firing: version=%v status=%v endsAt=%v idempotencyKey=%v", f["version"], f["status"], f["endsAt"], f["idempotencyKey"])
	}
	if r := decode(resolved()); r["status"] != "resolved" || r["endsAt"] != "2026-11-29T12:04:00Z" {
		t.Errorf("resolved: status=%v endsAt=%v", r["status"], r["endsAt"])
	}
	m := resolved()
	m.EndsAt = time.Time{}
	if r := decode(m); r["endsAt"] != "2026-11-29T12:05:00Z" {
		t.Errorf("resolved without EndsAt: endsAt=%v, want the message time", r["endsAt"])
	}
	empty := decode(&notify.Message{Key: "k", Title: "t", Nodes: []health.NodeReport{{Name: "n"}}})
	if empty["status"] != "firing" || empty["at"] != nil {
		t.Errorf("bare message: status=%v at=%v", empty["status"], empty["at"])
	}
	for _, k := range []string{"unschedulable", "workloads"} {
		if l, ok := empty[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, empty[k])
		}
	}
	n := empty["nodes"].([]any)[0].(map[string]any)
	for _, k := range []string{"pods", "conditions", "problems"} {
		if l, ok := n[k].([]any); !ok || len(l) != 0 {
			t.Errorf("nodes[0].%s = %#v, want []", k, n[k])
		}
	}
	if _, err := Render(&notify.Message{Key: "k", Status: "acknowledged"}); err == nil {
		t.Error("unknown status accepted")
	}
}

// receiver records requests and answers as programmed.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	answer   func(w http.ResponseWriter)
}

type request struct {
	method, path string
	header       http.Header
	body         []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, request{req.Method, req.URL.Path, req.Header.Clone(), b})
		answer := r.answer
		r.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

func (r *receiver) setAnswer(f func(w http.ResponseWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

func newNotifier(t *testing.T, url string, timeout time.Duration) *Notifier {
	t.Helper()
	n, err := New(Options{URL: url + "/hooks/" + secret, Headers: map[string]string{"Authorization": "Bearer " + secret, "x-team": "sre"}, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNotifyRequest(t *testing.T) {
	rx := newReceiver(t)
	n := newNotifier(t, rx.URL, 0)
	retry, err := n.Notify(context.Background(), firing())
	if err != nil || retry {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
	reqs := rx.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	for k, want := range map[string]string{
		"Content-Type": "application/json", "Idempotency-Key": "inc-7/firing",
		"Authorization": "Bearer " + secret, "X-Team": "sre", "User-Agent": "nodewatch",
	} {
		if got := req.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if req.method != http.MethodPost || req.path != "/hooks/"+secret {
		t.Errorf("%s %s, want POST /hooks/%s", req.method, req.path, secret)
	}
	var got Payload
	if err := json.Unmarshal(req.body, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := Render(firing())
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("body does not round-trip to the rendered payload:\n%s", req.body)
	}
}

func TestNotifyStatus(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		retry      bool
		ok         bool
		throttled  time.Duration // > 0: want a ThrottledError
	}{
		{name: "200 OK", status: 200, ok: true},
		{name: "202 Accepted", status: 202, ok: true},
		{name: "204 No Content", status: 204, ok: true},
		{name: "400 refused payload", status: 400, body: `{"error":"bad payload"}`},
		{name: "401 bad token", status: 401},
		{name: "404 wrong URL", status: 404},
		{name: "410 webhook deleted", status: 410},
		{name: "301 redirect", status: 301},
		{name: "500", status: 500, retry: true},
		{name: "502", status: 502, retry: true},
		{name: "503 with Retry-After", status: 503, retryAfter: "30", retry: true},
		{name: "429 seconds", status: 429, retryAfter: "7", retry: true, throttled: 7 * time.Second},
		{name: "429 HTTP date", status: 429, retryAfter: at.Add(90 * time.Second).Format(http.TimeFormat), retry: true, throttled: 90 * time.Second},
		{name: "429 without Retry-After", status: 429, retry: true},
	}
	rx := newReceiver(t)
	n := newNotifier(t, rx.URL, 0)
	n.now = func() time.Time { return at }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx.setAnswer(func(w http.ResponseWriter) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status == 301 {
					w.Header().Set("Location", "/elsewhere/"+secret)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			retry, err := n.Notify(context.Background(), firing())
			if tc.ok {
				if err != nil || retry {
					t.Fatalf("retry=%v err=%v, want success", retry, err)
				}
				return
			}
			if err == nil || retry != tc.retry {
				t.Fatalf("retry=%v err=%v, want retry=%v and an error", retry, err, tc.retry)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
			if !strings.Contains(err.Error(), rx.Listener.Addr().String()) || !strings.Contains(err.Error(), http.StatusText(tc.status)) {
				t.Errorf("error should name the host and the status: %v", err)
			}
			if tc.body != "" && !strings.Contains(err.Error(), "bad payload") {
				t.Errorf("error should quote the receiver's reply: %v", err)
			}
			d, ok := notify.RetryAfter(err)
			if ok != (tc.throttled > 0) || d != tc.throttled {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.throttled)
			}
		})
	}
}

// TestNotifyHang: a receiver that accepts the connection and never answers
// costs one timeout, not a stuck daemon, and is worth retrying.
func TestNotifyHang(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handlers return

	check := func(t *testing.T, n *Notifier, ctx context.Context, limit time.Duration) {
		t.Helper()
		start := time.Now()
		retry, err := n.Notify(ctx, firing())
		if took := time.Since(start); took > limit {
			t.Errorf("Notify took %s, want under %s", took, limit)
		}
		if err == nil || !retry || strings.Contains(err.Error(), secret) {
			t.Errorf("retry=%v err=%v; want a retryable error without the secret", retry, err)
		}
	}
	t.Run("Options.Timeout", func(t *testing.T) {
		check(t, newNotifier(t, hang.URL, 200*time.Millisecond), context.Background(), 5*time.Second)
	})
	t.Run("http.Client.Timeout", func(t *testing.T) {
		n, err := New(Options{URL: hang.URL + "/" + secret}, &http.Client{Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		check(t, n, context.Background(), 5*time.Second)
	})
	t.Run("caller's context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		check(t, newNotifier(t, hang.URL, time.Minute), ctx, 5*time.Second)
	})
	t.Run("slow body after 2xx is delivered", func(t *testing.T) {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "ok")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		defer slow.Close()
		n := newNotifier(t, slow.URL, 300*time.Millisecond)
		if retry, err := n.Notify(context.Background(), firing()); err != nil || retry {
			t.Errorf("retry=%v err=%v; a 2xx is a delivery", retry, err)
		}
	})
}

func TestNotifyUnreachable(t *testing.T) {
	rx := newReceiver(t)
	n := newNotifier(t, rx.URL, time.Second)
	rx.Close()
	retry, err := n.Notify(context.Background(), firing())
	if err == nil || !retry || strings.Contains(err.Error(), secret) {
		t.Errorf("closed receiver: retry=%v err=%v", retry, err)
	}
}

func TestNotifyBadStatus(t *testing.T) {
	rx := newReceiver(t)
	n := newNotifier(t, rx.URL, 0)
	m := firing()
	m.Status = "acked"
	if retry, err := n.Notify(context.Background(), m); err == nil || retry {
		t.Errorf("retry=%v err=%v; an unknown status is a permanent error", retry, err)
	}
	if len(rx.received()) != 0 {
		t.Errorf("a message with an unknown status was sent")
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want []string // substrings of the error; none: valid
	}{
		{"valid", Options{URL: "https://hooks.example/x", Headers: map[string]string{"Authorization": "Bearer x"}, Timeout: time.Second}, nil},
		{"no URL", Options{}, []string{"webhook url"}},
		{"ftp", Options{URL: "ftp://hooks.example/" + secret}, []string{"webhook url ftp://hooks.example/<redacted>"}},
		{"relative", Options{URL: "/hooks/x"}, []string{"webhook url"}},
		{"bad header name", Options{URL: "https://h/x", Headers: map[string]string{"Bad Header": "v"}}, []string{`"Bad Header" is not a valid header name`}},
		{"reserved header", Options{URL: "https://h/x", Headers: map[string]string{"content-type": "text/plain"}}, []string{"Content-Type is set by nodewatch"}},
		{"header injection", Options{URL: "https://h/x", Headers: map[string]string{"Authorization": secret + "\r\nX: y"}}, []string{"value of Authorization"}},
		{"negative timeout", Options{URL: "https://h/x", Timeout: -time.Second}, []string{"webhook timeout"}},
		{"all at once", Options{URL: "x", Timeout: -1}, []string{"webhook url", "webhook timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if _, nerr := New(tc.o, nil); (nerr == nil) != (err == nil) {
				t.Errorf("New and Validate disagree: %v vs %v", nerr, err)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

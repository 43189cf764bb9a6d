package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

var at = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

const secret = "s3cr3t-t0ken"

func pod(ns, name, kind, owner string) health.PodReport {
	return health.PodReport{Namespace: ns, Name: name, Owner: cluster.Owner{Kind: kind, Name: owner}, Phase: "Running", QOS: "BestEffort"}
}

func node(name string, pods ...health.PodReport) health.NodeReport {
	since := at.Add(-90 * time.Second)
	n := health.NodeReport{
		Name: name, Ready: "Unknown", Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
		Since: &since, Problems: []string{"NotReady"}, Pods: pods,
	}
	return n
}

// firing is a node incident: two nodes down, their pods.
func firing(incident string, start time.Time) *notify.Message {
	return &notify.Message{
		Key: incident + "/firing", IncidentID: incident, Rule: "NodeNotReady", Severity: "critical", Status: notify.Firing,
		Title: "2 of 3 nodes not Ready", At: start.Add(90 * time.Second), StartsAt: start,
		URL: "https://nodewatch.example/incidents/" + incident,
		Nodes: []health.NodeReport{
			node("ip-172-20-1-11",
				pod("emails", "unanswered-emails-x7k2p", "ReplicationController", "unanswered-emails"),
				pod("shop", "web-5d9f-abcde", "Deployment", "web")),
			node("ip-172-20-1-12"),
		},
	}
}

func resolvedMsg(m *notify.Message, end time.Time) *notify.Message {
	r := *m
	r.Key, r.Status, r.Title = m.IncidentID+"/resolved", notify.Resolved, "all nodes Ready again"
	r.At, r.EndsAt = end.Add(time.Second), end
	return &r
}

func workloadMsg() *notify.Message {
	return &notify.Message{
		Key: "inc-9/firing", IncidentID: "inc-9", Rule: "WorkloadFailing", Severity: "warning", Status: notify.Firing,
		Title: "batch/report keeps getting OOMKilled", Text: "The JVM has no memory limit.", At: at, StartsAt: at.Add(-time.Hour),
		Workloads: []notify.WorkloadReport{
			{Namespace: "batch", Kind: "CronJob", Name: "report", Reason: "OOMKilled",
				Pods: []notify.FailingPod{{Name: "report-29012-xk2", Node: "ip-172-20-1-12", Container: "main", Reason: "OOMKilled",
					ExitCode: 137, Restarts: 4, Message: "Killed"}}},
			{Namespace: "shop", Kind: "Deployment", Name: "web", Reason: "Unavailable", Desired: 3, Available: 1},
		},
	}
}

func TestAlertsGolden(t *testing.T) {
	unsched := &notify.Message{Key: "check/1", Rule: "Check", Severity: "critical", Status: notify.Firing, Title: "2 pods unschedulable", At: at,
		Unschedulable: []health.PodReport{
			{Namespace: "web", Name: "frontend-x", Owner: cluster.Owner{Kind: "Deployment", Name: "frontend"}, Message: "0/3 nodes are available: 3 Insufficient memory."},
			{Namespace: "web", Name: "frontend-y", Owner: cluster.Owner{Kind: "Deployment", Name: "frontend"}, Message: "0/3 nodes are available: 3 Insufficient memory."},
		}}
	cases := []struct {
		name string
		msg  *notify.Message
	}{
		{"firing", firing("inc-7", at)},
		{"resolved", resolvedMsg(firing("inc-7", at), at.Add(5*time.Minute))},
		{"workloads", workloadMsg()},
		{"unschedulable", unsched},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alerts, err := Alerts(tc.msg, at)
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, tc.name+".json", alerts)
		})
	}
}

func TestAlertsLabels(t *testing.T) {
	alerts, err := Alerts(firing("inc-7", at), at)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 {
		t.Fatalf("%d alerts for 2 nodes", len(alerts))
	}
	want := map[string]string{"alertname": "NodeNotReady", "severity": "critical", "node": "ip-172-20-1-11", "source": "nodewatch"}
	if !reflect.DeepEqual(alerts[0].Labels, want) {
		t.Errorf("labels %v, want %v", alerts[0].Labels, want)
	}
	a := alerts[0]
	if a.EndsAt == nil || !a.EndsAt.Equal(at.Add(FiringTTL)) || a.StartsAt == nil || !a.StartsAt.Equal(at) || a.GeneratorURL != "https://nodewatch.example/incidents/inc-7" {
		t.Errorf("firing alert: startsAt=%v endsAt=%v generatorURL=%q", a.StartsAt, a.EndsAt, a.GeneratorURL)
	}
	if a.Annotations["pods"] != "2" || a.Annotations["summary"] != "2 of 3 nodes not Ready" ||
		!strings.Contains(a.Annotations["description"], "emails/unanswered-emails-x7k2p (ReplicationController/unanswered-emails)") ||
		!strings.Contains(a.Annotations["description"], "NodeStatusUnknown: Kubelet stopped posting node status.") {
		t.Errorf("annotations: %v", a.Annotations)
	}

	w, _ := Alerts(workloadMsg(), at)
	if len(w) != 2 {
		t.Fatalf("%d alerts for 2 workloads", len(w))
	}
	want = map[string]string{"alertname": "WorkloadFailing", "severity": "warning", "namespace": "batch", "workload_kind": "CronJob", "workload": "report", "source": "nodewatch"}
	if !reflect.DeepEqual(w[0].Labels, want) {
		t.Errorf("workload labels %v, want %v", w[0].Labels, want)
	}
	if d := w[1].Annotations["description"]; !strings.Contains(d, "1 of 3 replicas available") {
		t.Errorf("unavailable workload: %q", d)
	}

	// Nodes and workloads together: one alert each, no message alert.
	both := firing("inc-7", at)
	both.Workloads = workloadMsg().Workloads
	if all, _ := Alerts(both, at); len(all) != 4 {
		t.Errorf("%d alerts for 2 nodes + 2 workloads, want 4", len(all))
	}

	// A check message: no incident, no URL, no start; the labels it lacks
	// are left out rather than sent empty.
	check := notify.FromReport(&health.Report{CheckedAt: at, NodeCount: 3, Nodes: []health.NodeReport{node("n1")}})
	c, _ := Alerts(check, at)
	if _, ok := c[0].Labels["incident"]; ok || c[0].Annotations["incident"] != "" || c[0].Labels["alertname"] != "Check" || c[0].GeneratorURL != "" || !c[0].StartsAt.Equal(at) {
		t.Errorf("check alert: %+v", c[0])
	}
}

func TestAlertsResolved(t *testing.T) {
	start := at
	cases := []struct {
		name     string
		edit     func(m *notify.Message)
		wantEnds time.Time
	}{
		{"EndsAt", func(m *notify.Message) {}, at.Add(5 * time.Minute)},
		{"no EndsAt: the message time", func(m *notify.Message) { m.EndsAt = time.Time{} }, at.Add(5*time.Minute + time.Second)},
		{"no times at all: now", func(m *notify.Message) { m.EndsAt, m.At, m.StartsAt = time.Time{}, time.Time{}, time.Time{} }, at.Add(time.Hour)},
		{"EndsAt before StartsAt: clamped", func(m *notify.Message) { m.EndsAt = start.Add(-time.Minute) }, start},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := resolvedMsg(firing("inc-7", start), at.Add(5*time.Minute))
			tc.edit(m)
			alerts, err := Alerts(m, at.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range alerts {
				if a.EndsAt == nil || !a.EndsAt.Equal(tc.wantEnds) {
					t.Errorf("endsAt %v, want %v", a.EndsAt, tc.wantEnds)
				}
				if a.StartsAt != nil && a.EndsAt.Before(*a.StartsAt) {
					t.Errorf("endsAt %v before startsAt %v: Alertmanager would refuse it", a.EndsAt, a.StartsAt)
				}
			}
			// Same labels as the firing alerts, or Alertmanager resolves nothing.
			f, _ := Alerts(firing("inc-7", start), at)
			for i := range f {
				if !reflect.DeepEqual(f[i].Labels, alerts[i].Labels) {
					t.Errorf("resolved labels %v differ from firing %v", alerts[i].Labels, f[i].Labels)
				}
			}
		})
	}
	if _, err := Alerts(&notify.Message{Status: "acked"}, at); err == nil {
		t.Error("unknown status accepted")
	}
}

// TestAlertsTruncate: a node with hundreds of pods still gives a readable
// description of bounded size that says how many it left out.
func TestAlertsTruncate(t *testing.T) {
	var pods []health.PodReport
	for i := range 500 {
		pods = append(pods, pod("ns", fmt.Sprintf("pod-%03d-%s", i, strings.Repeat("x", 40)), "Job", "batch"))
	}
	m := firing("inc-7", at)
	m.Nodes = []health.NodeReport{node("big", pods...)}
	m.Nodes[0].Message = strings.Repeat("é", 5000) // long and multi-byte
	m.Title = strings.Repeat("t", 1000)
	alerts, _ := Alerts(m, at)
	a := alerts[0].Annotations
	if n := utf8.RuneCountInString(a["description"]); n > maxDescription {
		t.Errorf("description has %d runes, limit %d", n, maxDescription)
	}
	if n := utf8.RuneCountInString(a["summary"]); n > maxSummary {
		t.Errorf("summary has %d runes", n)
	}
	if !utf8.ValidString(a["description"]) || !strings.HasSuffix(a["description"], "…") {
		t.Errorf("cut description should be valid UTF-8 and end in …: %q", a["description"][len(a["description"])-20:])
	}
	if a["pods"] != "500" {
		t.Errorf("pods = %s, want the full count 500", a["pods"])
	}

	m.Nodes = []health.NodeReport{node("big", pods...)}
	alerts, _ = Alerts(m, at)
	d := alerts[0].Annotations["description"]
	if !strings.Contains(d, "500 pods on the node") || !strings.Contains(d, "…and 480 more") || strings.Contains(d, "pod-020") {
		t.Errorf("pod list not cut at %d with a count:\n%s", maxListed, d)
	}
}

// receiver is a stand-in Alertmanager that records what it was sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	answer func(w http.ResponseWriter)
}

type request struct {
	method, path string
	header       http.Header
	body         []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{answer: func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, request{req.Method, req.URL.Path, req.Header.Clone(), b})
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
	return append([]request(nil), r.reqs...)
}

func (r *receiver) setAnswer(f func(w http.ResponseWriter)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

func newNotifier(t *testing.T, base string, timeout time.Duration) *Notifier {
	t.Helper()
	u := strings.Replace(base, "http://", "http://nodewatch:"+secret+"@", 1) + "/am/"
	n, err := New(Options{URL: u, Headers: map[string]string{"X-Scope-OrgID": "team-a"}, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNotifyRequest(t *testing.T) {
	rx := newReceiver(t)
	n := newNotifier(t, rx.URL, 0)
	m := firing("inc-7", at)
	if retry, err := n.Notify(context.Background(), m); err != nil || retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	reqs := rx.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/am/api/v2/alerts" {
		t.Errorf("%s %s, want POST /am/api/v2/alerts", r.method, r.path)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.header.Get("X-Scope-OrgID") != "team-a" || !strings.HasPrefix(r.header.Get("Authorization"), "Basic ") {
		t.Errorf("headers: %v", r.header)
	}
	var got []Alert
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not a JSON array of alerts: %v\n%s", err, r.body)
	}
	want, _ := Alerts(m, at)
	// A firing alert ends FiringTTL after the notifier's clock: compare the rest.
	for i := range got {
		if got[i].EndsAt == nil || time.Until(*got[i].EndsAt) > FiringTTL || time.Until(*got[i].EndsAt) < FiringTTL-time.Minute {
			t.Errorf("alert %d endsAt %v, want about now + %s", i, got[i].EndsAt, FiringTTL)
		}
		got[i].EndsAt, want[i].EndsAt = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %s\nwant %+v", r.body, want)
	}
}

func TestNotifyStatus(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		retry, ok  bool
		throttled  time.Duration
	}{
		{name: "200", status: 200, ok: true},
		{name: "400 validation", status: 400, body: `"start time must be before end time"`},
		{name: "401", status: 401},
		{name: "404 wrong prefix", status: 404},
		{name: "422 schema", status: 422},
		{name: "302 redirect", status: 302},
		{name: "500", status: 500, retry: true},
		{name: "503", status: 503, retry: true},
		{name: "429 seconds", status: 429, retryAfter: "3", retry: true, throttled: 3 * time.Second},
		{name: "429 date", status: 429, retryAfter: at.Add(time.Minute).Format(http.TimeFormat), retry: true, throttled: time.Minute},
		{name: "429 bare", status: 429, retry: true},
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
				if tc.status == 302 {
					w.Header().Set("Location", "/login")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			retry, err := n.Notify(context.Background(), firing("inc-7", at))
			if tc.ok {
				if err != nil || retry {
					t.Fatalf("retry=%v err=%v", retry, err)
				}
				return
			}
			if err == nil || retry != tc.retry {
				t.Fatalf("retry=%v err=%v, want retry=%v and an error", retry, err, tc.retry)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
			if tc.body != "" && !strings.Contains(err.Error(), "start time must be before end time") {
				t.Errorf("error should quote Alertmanager's reason: %v", err)
			}
			if d, ok := notify.RetryAfter(err); ok != (tc.throttled > 0) || d != tc.throttled {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.throttled)
			}
		})
	}
}

func TestNotifyHangAndUnreachable(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })

	for _, tc := range []struct {
		name string
		n    func() *Notifier
	}{
		{"hanging, Options.Timeout", func() *Notifier { return newNotifier(t, hang.URL, 200*time.Millisecond) }},
		{"hanging, http.Client.Timeout", func() *Notifier {
			n, err := New(Options{URL: hang.URL}, &http.Client{Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}},
		{"unreachable", func() *Notifier {
			rx := newReceiver(t)
			n := newNotifier(t, rx.URL, time.Second)
			rx.Close()
			return n
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			retry, err := tc.n().Notify(context.Background(), firing("inc-7", at))
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			if err == nil || !retry || strings.Contains(err.Error(), secret) {
				t.Errorf("retry=%v err=%v; want a retryable error without the secret", retry, err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want []string
	}{
		{"valid", Options{URL: "http://alertmanager:9093"}, nil},
		{"valid with prefix and auth", Options{URL: "https://u:" + secret + "@am.example/alertmanager/", Headers: map[string]string{"Authorization": "Bearer x"}}, nil},
		{"empty", Options{}, []string{"alertmanager url"}},
		{"full endpoint", Options{URL: "http://am:9093/api/v2/alerts"}, []string{"nodewatch appends /api/v2/alerts"}},
		{"query", Options{URL: "http://am:9093/?x=" + secret}, []string{"without query"}},
		{"reserved header", Options{URL: "http://am:9093", Headers: map[string]string{"Content-Type": "x"}}, []string{"Content-Type is set by nodewatch"}},
		{"header injection", Options{URL: "http://am:9093", Headers: map[string]string{"Authorization": secret + "\n"}}, []string{"value of Authorization"}},
		{"all at once", Options{URL: "am:9093", Headers: map[string]string{"a b": "c"}, Timeout: -1}, []string{"alertmanager url", `"a b"`, "alertmanager timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, err := New(tc.o, nil); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if _, nerr := New(tc.o, nil); nerr == nil {
				t.Error("New accepted what Validate refused")
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

// An escalation resolves the alerts of the rule it replaces.
func TestAlertsSupersedes(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	since := at.Add(-time.Minute)
	m := &notify.Message{Key: "k", Rule: "NodeNotReady", Severity: "critical", Status: notify.Firing, At: at, StartsAt: since,
		Nodes:      []health.NodeReport{{Name: "n1", Ready: "Unknown", Since: &since}},
		Supersedes: &notify.Superseded{Rule: "NodeLeaseStale", Severity: "warning"}}
	alerts, err := Alerts(m, at)
	if err != nil || len(alerts) != 2 {
		t.Fatalf("%d alerts, %v; want the NotReady alert and the resolved early warning", len(alerts), err)
	}
	old := alerts[1]
	if old.Labels["alertname"] != "NodeLeaseStale" || old.Labels["severity"] != "warning" || old.Labels["node"] != "n1" ||
		old.EndsAt == nil || !old.EndsAt.Equal(at) {
		t.Errorf("superseded alert %+v, want NodeLeaseStale/warning for n1 ending now", old)
	}
	if alerts[0].Labels["alertname"] != "NodeNotReady" || !alerts[0].EndsAt.After(at) {
		t.Errorf("the new alert must stay firing: %+v", alerts[0])
	}
}

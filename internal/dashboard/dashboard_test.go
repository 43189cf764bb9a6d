package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/analyze/culprit"
	"github.com/nodewatch/nodewatch/internal/incident"
)

type jsonSeries struct {
	Name   string       `json:"name"`
	Points [][2]float64 `json:"points"`
}

type jsonChart struct {
	Unit    string       `json:"unit"`
	Stacked bool         `json:"stacked"`
	Series  []jsonSeries `json:"series"`
	Levels  []level      `json:"levels"`
	Markers []marker     `json:"markers"`
	Overlay *struct {
		Unit   string     `json:"unit"`
		Series jsonSeries `json:"series"`
	} `json:"overlay"`
}

func (c jsonChart) series(name string) *jsonSeries {
	for i := range c.Series {
		if c.Series[i].Name == name {
			return &c.Series[i]
		}
	}
	return nil
}

func (c jsonChart) level(name string) float64 {
	for _, l := range c.Levels {
		if l.Name == name {
			return l.Value
		}
	}
	return -1
}

// end pins a page's range to the fixture's clock.
var end = fmt.Sprintf("&end=%d", now.Unix())

func TestOverview(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	var got struct {
		History   bool      `json:"history"`
		Warnings  []string  `json:"warnings"`
		Nodes     []nodeRow `json:"nodes"`
		NotReady  int       `json:"notReady"`
		Pods      int       `json:"pods"`
		Incidents []struct {
			ID, Rule, Node string
		} `json:"openIncidents"`
		Growing []growing `json:"growing"`
		Memory  jsonChart `json:"memory"`
	}
	get(t, h, "/api/ui/overview?range=3h"+end, &got)
	if len(got.Warnings) > 0 {
		t.Errorf("warnings: %v", got.Warnings)
	}
	if len(got.Nodes) != 3 || got.NotReady != 1 || got.Pods != 5 {
		t.Fatalf("nodes %d, not ready %d, pods %d; want 3, 1, 5", len(got.Nodes), got.NotReady, got.Pods)
	}
	// The failed node comes first, with its open incident and its numbers.
	n2 := got.Nodes[0]
	mustf(t, n2.Name == "n2" && n2.Ready == "Unknown" && n2.OpenIncidents == 1, "first node %+v, want n2 Unknown with 1 open incident", n2)
	mustf(t, n2.Requests == 256<<20 && n2.Limits == 512<<20 && n2.NoLimit == 1 && n2.Pods == 2 && n2.Allocatable == 16<<30,
		"n2 requests %d limits %d no-limit %d pods %d allocatable %d", n2.Requests, n2.Limits, n2.NoLimit, n2.Pods, n2.Allocatable)
	mustf(t, n2.LeaseAge != nil && *n2.LeaseAge == 660, "n2 lease age %v, want 660 s", n2.LeaseAge)
	for _, n := range got.Nodes[1:] {
		mustf(t, n.Memory != nil && *n.Memory == 1<<30, "%s memory %v, want 1 GiB", n.Name, n.Memory)
	}
	mustf(t, len(got.Incidents) == 1 && got.Incidents[0].ID == f.failure, "open incidents %+v", got.Incidents)
	// The leaking pod grows fastest, and analyze/leak calls it a leak.
	if len(got.Growing) == 0 {
		t.Fatal("no growing pods")
	}
	g := got.Growing[0]
	mustf(t, g.Pod == "unanswered-emails-x7k2p" && g.Workload == "unanswered-emails" && g.Verdict.Leak && g.Limit == nil,
		"fastest-growing %+v, want the unbounded leaking unanswered-emails pod", g)
	mustf(t, g.Verdict.SlopePerHour > 55<<20 && g.Verdict.SlopePerHour < 65<<20, "slope %.0f MiB/h, want 60", g.Verdict.SlopePerHour/(1<<20))
	for _, o := range got.Growing[1:] {
		mustf(t, !strings.HasPrefix(o.Pod, "frontend"), "steady pod %s listed as growing", o.Pod)
	}
	// The cluster chart: bounded points, requests and allocatable.
	if len(got.Memory.Series) != 1 || len(got.Memory.Series[0].Points) < 100 || len(got.Memory.Series[0].Points) > 240 {
		t.Errorf("cluster memory series: %+v", got.Memory.Series)
	}
	mustf(t, got.Memory.level("allocatable") == 3*16<<30 && got.Memory.level("requested") == 3*256<<20, "levels %+v", got.Memory.Levels)
}

func TestNodePage(t *testing.T) {
	f := newFixture(t)
	var got struct {
		Node     nodeRow    `json:"node"`
		Timeline []segment  `json:"timeline"`
		Pods     []podRow   `json:"pods"`
		Memory   jsonChart  `json:"memory"`
		Events   []eventRow `json:"events"`
		Incs     []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	get(t, f.handler(t), "/api/ui/nodes/n2?range=1h"+end, &got)
	var ready, lease *segment
	for i := range got.Timeline {
		switch got.Timeline[i].Lane {
		case "Ready":
			ready = &got.Timeline[i]
		case "Lease":
			lease = &got.Timeline[i]
		}
	}
	mustf(t, ready != nil && ready.Incident == f.failure && ready.End == nil && ready.Severity == "critical", "Ready lane %+v", ready)
	mustf(t, lease != nil && lease.Incident == "n2-lease-1" && lease.End != nil, "Lease lane %+v", lease)
	mustf(t, got.Node.Memory != nil && *got.Node.Memory == 1<<30 && got.Node.Requests == 256<<20 && got.Node.NoLimit == 1 && got.Node.Pods == 2,
		"n2's last known memory %v, requests %d, pods without limit %d, pods %d", got.Node.Memory, got.Node.Requests, got.Node.NoLimit, got.Node.Pods)
	for _, p := range got.Pods {
		mustf(t, p.Memory != nil && *p.Memory > 0, "%s: no last known memory", p.Name)
	}
	if len(got.Pods) != 2 || got.Pods[0].Name != "unanswered-emails-x7k2p" && got.Pods[1].Name != "unanswered-emails-x7k2p" {
		t.Errorf("pods on n2: %+v", got.Pods)
	}
	// Stacked memory of its pods, and the page-fault rate climbing before
	// the failure.
	mustf(t, got.Memory.Stacked && got.Memory.Unit == "bytes", "memory chart %+v", got.Memory)
	ue := got.Memory.series("emails/unanswered-emails-x7k2p")
	if ue == nil || len(ue.Points) < 10 || ue.Points[len(ue.Points)-1][1] <= ue.Points[0][1] {
		t.Fatalf("leaking pod's band: %+v", ue)
	}
	if got.Memory.Overlay == nil || got.Memory.Overlay.Unit != "faults/s" {
		t.Fatalf("no page-fault overlay: %+v", got.Memory.Overlay)
	}
	pts := got.Memory.Overlay.Series.Points
	peak := 0.0
	for _, p := range pts {
		peak = max(peak, p[1])
	}
	mustf(t, pts[0][1] < 1 && peak > 100, "page faults/s from %.1f to a peak of %.1f, want a calm start and a spike", pts[0][1], peak)
	mustf(t, got.Memory.level("allocatable") == 16<<30, "levels %+v", got.Memory.Levels)
	mustf(t, len(got.Events) == 1 && got.Events[0].Message == xss, "events %+v", got.Events)
	mustf(t, len(got.Incs) == 2 && got.Incs[0].ID == f.failure, "incidents %+v", got.Incs)

	if rec := get(t, f.handler(t), "/api/ui/nodes/nope", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown node: %d", rec.Code)
	}
}

func TestPodPage(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	var got struct {
		InCluster bool `json:"inCluster"`
		Node      string
		Owner     struct{ Kind, Name string }
		Memory    jsonChart    `json:"memory"`
		CPU       jsonChart    `json:"cpu"`
		Verdicts  []verdictRow `json:"verdicts"`
		Events    []eventRow   `json:"events"`
	}
	get(t, h, "/api/ui/pods/emails/unanswered-emails-x7k2p?range=3h"+end, &got)
	mustf(t, got.InCluster && got.Node == "n2" && got.Owner.Kind == "ReplicationController" && got.Owner.Name == "unanswered-emails", "pod %+v", got)
	if len(got.Verdicts) != 1 || !got.Verdicts[0].Verdict.Leak {
		t.Fatalf("verdicts %+v, want the worker's leak", got.Verdicts)
	}
	mustf(t, strings.Contains(got.Verdicts[0].Forecast, "no memory limit") && strings.Contains(got.Verdicts[0].Forecast, "days"),
		"forecast %q", got.Verdicts[0].Forecast)
	w := got.Memory.series("worker")
	mustf(t, w != nil && len(w.Points) > 100 && len(w.Points) <= 240, "worker memory %+v", w)
	mustf(t, got.Memory.level("limit") == -1 && got.Memory.level("request") == -1, "an unbounded pod has no request or limit line: %+v", got.Memory.Levels)
	oom := 0
	for _, m := range got.Memory.Markers {
		if m.Kind == "oom" {
			oom++
		}
	}
	mustf(t, oom == 2, "OOM markers %+v, want the termination and the event", got.Memory.Markers)
	c := got.CPU.series("worker")
	mustf(t, c != nil && len(c.Points) > 10 && c.Points[len(c.Points)-1][1] > 0.49 && c.Points[len(c.Points)-1][1] < 0.51, "worker CPU %+v, want 0.5 cores", c)

	var web struct {
		Memory   jsonChart    `json:"memory"`
		CPU      jsonChart    `json:"cpu"`
		Verdicts []verdictRow `json:"verdicts"`
	}
	get(t, h, "/api/ui/pods/web/frontend-7d9f-a?range=3h"+end, &web)
	mustf(t, web.Memory.level("request") == 256<<20 && web.Memory.level("limit") == 512<<20, "web memory levels %+v", web.Memory.Levels)
	mustf(t, web.CPU.level("request") == 0.1 && web.CPU.level("limit") == 0.5, "web CPU levels %+v", web.CPU.Levels)
	mustf(t, len(web.Verdicts) == 1 && web.Verdicts[0].Verdict.Enough && !web.Verdicts[0].Verdict.Leak, "steady pod verdict %+v", web.Verdicts)

	if rec := get(t, h, "/api/ui/pods/emails/gone", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown pod: %d", rec.Code)
	}
}

func TestIncidentPages(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	var got struct {
		Incident incident.Incident `json:"incident"`
		Timeline []step            `json:"timeline"`
		Pods     []incidentPod     `json:"pods"`
		Memory   jsonChart         `json:"memory"`
		Suspects []culprit.Suspect `json:"suspects"`
		Cause    *culprit.Suspect  `json:"cause"`
	}
	get(t, h, "/incidents/"+f.failure, nil) // the page the alerts link to
	get(t, h, "/api/ui/incidents/"+f.failure+"?range=1h", &got)
	if got.Cause == nil || got.Cause.Name != "unanswered-emails" || got.Cause.Kind != "ReplicationController" {
		t.Fatalf("cause %+v, want ReplicationController unanswered-emails", got.Cause)
	}
	joined := strings.Join(got.Cause.Evidence, "; ")
	mustf(t, strings.Contains(joined, "no memory limit") && strings.Contains(joined, "leaks 60 MiB/h"), "evidence %q", joined)
	mustf(t, len(got.Suspects) == 2 && got.Suspects[0].Name == "unanswered-emails", "suspects %+v", got.Suspects)
	mustf(t, len(got.Pods) == 2 && got.Pods[0].Name == "unanswered-emails-x7k2p" && got.Pods[0].MemoryAtFailure != nil &&
		*got.Pods[0].MemoryAtFailure == float64(100<<20+170<<20), "pods at failure %+v", got.Pods)
	kinds := map[string]bool{}
	for _, s := range got.Timeline {
		kinds[s.Kind] = true
	}
	mustf(t, kinds["since"] && kinds["started"] && kinds["event"] && kinds["notification"], "timeline %+v", got.Timeline)
	// Without ?end= the window ends a quarter of the range after now (the
	// incident is open), capped at now.
	mustf(t, got.Memory.series("emails/unanswered-emails-x7k2p") != nil && got.Memory.Overlay != nil, "memory around the failure %+v", got.Memory)

	var list struct {
		Incidents []incidentRow     `json:"incidents"`
		Suspects  []culprit.Suspect `json:"suspects"`
	}
	get(t, h, "/api/ui/incidents", &list)
	mustf(t, len(list.Incidents) == 2 && list.Incidents[0].ID == f.failure, "open incident first: %+v", list.Incidents)
	mustf(t, len(list.Suspects) > 0 && list.Suspects[0].Name == "unanswered-emails", "suspects %+v", list.Suspects)

	if rec := get(t, h, "/api/ui/incidents/nope", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown incident: %d", rec.Code)
	}
}

func TestRanges(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"default", "", 200},
		{"days", "?range=7d", 200},
		{"minutes", "?range=15m", 200},
		{"garbage", "?range=soon", 400},
		{"too long", "?range=90d", 400},
		{"too short", "?range=10s", 400},
		{"bad end", "?end=yesterday", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, h, "/api/ui/nodes/n2"+tc.query, nil)
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.code)
			}
		})
	}
	// A week of history still comes in at most MaxPoints points per series.
	var got struct {
		Memory jsonChart `json:"memory"`
		Range  rangeJSON `json:"range"`
	}
	get(t, h, "/api/ui/nodes/n2?range=7d"+end, &got)
	for _, s := range got.Memory.Series {
		mustf(t, len(s.Points) > 0 && len(s.Points) <= 240, "%s: %d points", s.Name, len(s.Points))
	}
	mustf(t, got.Range.End-got.Range.Start == (7*24*time.Hour).Milliseconds(), "range %+v", got.Range)
}

func TestNoHistory(t *testing.T) {
	f := newFixture(t)
	h, err := Handler(Options{Cluster: f.cluster, Incidents: f.incidents, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		History  bool      `json:"history"`
		Warnings []string  `json:"warnings"`
		Nodes    []nodeRow `json:"nodes"`
		Growing  []growing `json:"growing"`
	}
	get(t, h, "/api/ui/overview", &got)
	mustf(t, !got.History && len(got.Nodes) == 3 && len(got.Growing) == 0 && len(got.Warnings) == 1 && strings.Contains(got.Warnings[0], "no resource history"),
		"without history: %+v", got)
	if _, err := Handler(Options{}); err == nil || !strings.Contains(err.Error(), "Cluster") || !strings.Contains(err.Error(), "Incidents") {
		t.Errorf("Handler without sources: %v", err)
	}
}

func TestPagesAndAssets(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	for _, path := range []string{"/", "/nodes/n2", "/pods/emails/unanswered-emails-x7k2p", "/incidents", "/incidents/" + f.failure, "/audit", "/recommendations"} {
		rec := get(t, h, path, nil)
		body := rec.Body.String()
		mustf(t, rec.Code == 200 && strings.Contains(body, `<script src="/ui/static/app.js"`) && strings.Contains(rec.Header().Get("Content-Type"), "text/html"),
			"%s: %d %s", path, rec.Code, body)
		mustf(t, strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'"), "%s: CSP %q", path, rec.Header().Get("Content-Security-Policy"))
		mustf(t, !strings.Contains(body, "http://") && !strings.Contains(body, "https://"), "%s links outside the daemon", path)
	}
	for _, asset := range []string{"/ui/static/app.js", "/ui/static/style.css"} {
		rec := get(t, h, asset, nil)
		mustf(t, rec.Code == 200 && rec.Body.Len() > 1000, "%s: %d, %d bytes", asset, rec.Code, rec.Body.Len())
		// Nothing from elsewhere: no URLs but the SVG namespace, no @import, no fonts.
		b := strings.ReplaceAll(rec.Body.String(), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "@import", "@font-face", "//cdn"} {
			mustf(t, !strings.Contains(b, bad), "%s contains %q", asset, bad)
		}
	}
	if rec := get(t, h, "/no/such/page", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown page: %d", rec.Code)
	}
}

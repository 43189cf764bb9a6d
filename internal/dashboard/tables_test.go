package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/storage"

	"github.com/nodewatch/nodewatch/internal/audit"
	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/history"
)

// goldenJSON compares a JSON payload, indented, with testdata/name.
func goldenJSON(t *testing.T, name string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	golden.Assert(t, name, b.Bytes())
}

type auditPayload struct {
	Warnings   []string     `json:"warnings"`
	Namespace  string       `json:"namespace"`
	Namespaces []string     `json:"namespaces"`
	Report     audit.Report `json:"report"`
}

func (p auditPayload) finding(check, namespace, workload string) *audit.Finding {
	for i, f := range p.Report.Findings {
		if f.Check == check && f.Namespace == namespace && (workload == "" || f.Workload != nil && f.Workload.Kind+"/"+f.Workload.Name == workload) {
			return &p.Report.Findings[i]
		}
	}
	return nil
}

// TestAuditPage: the audit page's JSON is `nodewatch audit -o json` over
// the informer cache and the policies listed live — the leaking
// unanswered-emails without a memory limit and its namespace without a
// LimitRange are found, web's LimitRange default counts — and the policies
// are listed once per PolicyTTL, not per view.
func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	var got auditPayload
	rec := get(t, h, "/api/ui/audit", &got)
	goldenJSON(t, "audit.json", rec.Body.Bytes())
	if len(got.Warnings) > 0 || len(got.Report.Skipped) > 0 {
		t.Errorf("warnings %v, skipped %v", got.Warnings, got.Report.Skipped)
	}
	mustf(t, got.Report.Pods == 5 && got.Report.Nodes == 3 && strings.Join(got.Namespaces, ",") == "emails,web", "pods %d nodes %d namespaces %v", got.Report.Pods, got.Report.Nodes, got.Namespaces)
	ue := got.finding(audit.BestEffort, "emails", "ReplicationController/unanswered-emails")
	if ue == nil || !strings.HasPrefix(ue.Fix, "kubectl set resources replicationcontroller/unanswered-emails -n emails") {
		t.Fatalf("no BestEffort finding with a kubectl fix for unanswered-emails: %+v", got.Report.Findings)
	}
	mustf(t, got.finding(audit.NoLimitRange, "emails", "") != nil, "emails has no LimitRange: not reported")
	mustf(t, got.finding(audit.NoLimitRange, "web", "") == nil && got.finding(audit.NoResourceQuota, "web", "") == nil, "web's LimitRange and quota were not taken into account")
	mustf(t, got.finding(audit.LimitRangeDefaultNotApplied, "web", "Pod/"+xss) != nil, "the bare pod that predates web's LimitRange is not reported")

	get(t, h, "/api/ui/audit?namespace=emails", &got)
	for _, fd := range got.Report.Findings {
		mustf(t, fd.Namespace == "emails", "namespace=emails shows %+v", fd)
	}
	mustf(t, got.Namespace == "emails" && len(got.Report.Findings) > 0 && len(got.Report.Skipped) == 1, "emails only: %+v", got.Report)
	mustf(t, f.policyLists == 1, "policies listed %d times for two views within PolicyTTL, want once", f.policyLists)

	// Listing them fails: the audit runs without, and says so.
	f = newFixture(t)
	f.policyErr = errors.New("the server is currently unable to handle the request")
	get(t, f.handler(t), "/api/ui/audit", &got)
	mustf(t, len(got.Warnings) == 1 && strings.Contains(got.Warnings[0], "unable to handle") && len(got.Report.Skipped) == 2 &&
		got.finding(audit.BestEffort, "emails", "ReplicationController/unanswered-emails") != nil, "without policies: warnings %v skipped %v", got.Warnings, got.Report.Skipped)
}

type recommendationsPayload struct {
	Warnings   []string  `json:"warnings"`
	Generated  time.Time `json:"generated"`
	Since      string    `json:"since"`
	Resolution string    `json:"resolution"`
	Workloads  []struct {
		Namespace, Kind, Name string
		Containers            []struct {
			Name        string `json:"name"`
			Status      string `json:"status"`
			Note        string `json:"note"`
			Recommended *struct {
				MemoryRequest int64 `json:"memoryRequestBytes"`
				MemoryLimit   int64 `json:"memoryLimitBytes"`
			} `json:"recommended"`
		} `json:"containers"`
		Patch   string `json:"patch"`
		Command string `json:"command"`
		NoPatch string `json:"noPatch"`
	} `json:"workloads"`
	Script     string `json:"script"`
	Refreshing bool   `json:"refreshing"`
	Pending    *struct {
		Since time.Time `json:"since"`
	} `json:"pending"`
}

// TestRecommendationsPage: the recommendations page's JSON sizes the
// steady frontend from three hours of history with the kubectl patch to
// copy, flags the leaking unanswered-emails with no patch, and carries the
// whole `recommend -o patch` script.
func TestRecommendationsPage(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t)
	var got recommendationsPayload
	rec := get(t, h, "/api/ui/recommendations?range=3h"+end, &got)
	goldenJSON(t, "recommendations.json", rec.Body.Bytes())
	mustf(t, len(got.Warnings) == 0 && got.Since == "3h" && got.Resolution == "raw", "warnings %v since %s resolution %s", got.Warnings, got.Since, got.Resolution)
	byName := map[string]int{}
	for i, w := range got.Workloads {
		byName[w.Kind+"/"+w.Name] = i
	}
	fe := got.Workloads[byName["Deployment/frontend"]]
	if len(fe.Containers) != 1 || fe.Containers[0].Status != "sized" || fe.Containers[0].Recommended == nil {
		t.Fatalf("frontend: %+v", fe)
	}
	r := fe.Containers[0].Recommended
	mustf(t, r.MemoryRequest > 200<<20 && r.MemoryRequest < 240<<20 && r.MemoryLimit > r.MemoryRequest, "frontend sized %+v from a steady 200 MiB", r)
	mustf(t, strings.HasPrefix(fe.Command, "kubectl patch deployment/frontend -n web --type strategic -p '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\"") &&
		strings.Contains(fe.Command, fe.Patch) && strings.Contains(got.Script, fe.Command+"\n"), "frontend's patch %q command %q", fe.Patch, fe.Command)
	ue := got.Workloads[byName["ReplicationController/unanswered-emails"]]
	mustf(t, ue.Containers[0].Status == "leak" && ue.Command == "" && strings.Contains(ue.NoPatch, "leak: fix the leak first"), "unanswered-emails: %+v", ue)

	// The default is recommend's: 7 days.
	get(t, h, "/api/ui/recommendations?namespace=emails"+end, &got)
	mustf(t, got.Since == "7d" && got.Resolution == "5m" && len(got.Workloads) == 1 && got.Workloads[0].Name == "unanswered-emails", "emails over 7d: %+v", got)

	for _, bad := range []string{"?min-history=soon", "?min-samples=many", "?cpu-limits=maybe", "?min-history=30d"} {
		if rec := get(t, h, "/api/ui/recommendations"+bad, nil); rec.Code != 400 || !strings.Contains(rec.Body.String(), "error") {
			t.Errorf("%s: %d %s, want 400", bad, rec.Code, rec.Body)
		}
	}
}

// gatedHistory is the fixture's history, read only once the gate opens.
type gatedHistory struct {
	*history.DB
	gate chan struct{}
}

func (g *gatedHistory) Queryable() storage.Queryable {
	<-g.gate
	return g.DB.Queryable()
}

// TestRecommendationsPending: a view whose report takes longer than the
// wait is told it is pending, since when; the report goes on being
// computed, and a view after it gets it (the page's next ask). A report
// past its minute is shown, saying a fresh one is on its way.
func TestRecommendationsPending(t *testing.T) {
	f := newFixture(t)
	clock := now
	hist := &gatedHistory{DB: f.history, gate: make(chan struct{})}
	d, err := Handler(Options{Cluster: f.cluster, Incidents: f.incidents, History: hist, Now: func() time.Time { return clock }, RecommendWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got recommendationsPayload
	get(t, d, "/api/ui/recommendations?range=3h", &got)
	mustf(t, got.Pending != nil && got.Pending.Since.Equal(now) && len(got.Workloads) == 0 && !got.Refreshing,
		"a view while the report is computed: pending %+v, %d workloads", got.Pending, len(got.Workloads))
	close(hist.gate)
	deadline := time.Now().Add(time.Minute)
	for got.Pending != nil && time.Now().Before(deadline) {
		got = recommendationsPayload{}
		get(t, d, "/api/ui/recommendations?range=3h", &got)
	}
	mustf(t, got.Pending == nil && len(got.Workloads) == 3 && got.Script != "" && !got.Refreshing, "after the computation: pending %+v, %d workloads", got.Pending, len(got.Workloads))
	clock = now.Add(2 * time.Minute)
	var older recommendationsPayload
	get(t, d, "/api/ui/recommendations?range=3h", &older)
	mustf(t, older.Refreshing && older.Generated.Equal(got.Generated) && reflect.DeepEqual(older.Workloads, got.Workloads),
		"two minutes later: refreshing %v, generated %s (was %s)", older.Refreshing, older.Generated, got.Generated)
}

// readCounter is the fixture's history, counting the direct reads of its
// series (the recommendations read one a namespace).
type readCounter struct {
	*history.DB
	reads atomic.Int64
}

func (c *readCounter) Queryable() storage.Queryable {
	c.reads.Add(1)
	return c.DB.Queryable()
}

// TestWarmRecommendations: the report WarmRecommendations computes at the
// start is the one a first view without parameters would compute, and a
// view half a minute later is served it without reading the history;
// without the warm-up, the first view reads it.
func TestWarmRecommendations(t *testing.T) {
	f := newFixture(t)
	first := func(warm bool) (recommendationsPayload, int64) {
		t.Helper()
		clock := now
		hist := &readCounter{DB: f.history}
		d, err := Handler(Options{Cluster: f.cluster, Incidents: f.incidents, History: hist, Now: func() time.Time { return clock }, RecommendWait: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if warm {
			if err := d.WarmRecommendations(t.Context()); err != nil {
				t.Fatal(err)
			}
			if hist.reads.Load() == 0 {
				t.Fatal("the warm-up read no history")
			}
			clock = now.Add(30 * time.Second)
		}
		before := hist.reads.Load()
		var got recommendationsPayload
		get(t, d, "/api/ui/recommendations", &got)
		return got, hist.reads.Load() - before
	}
	warmed, reads := first(true)
	mustf(t, reads == 0, "the first view after the warm-up read the history %d times", reads)
	cold, reads := first(false)
	mustf(t, reads > 0, "a first view without the warm-up read no history")
	mustf(t, cold.Since == "7d" && cold.Resolution == "5m" && len(cold.Workloads) == 3, "first view: since %s resolution %s, %d workloads", cold.Since, cold.Resolution, len(cold.Workloads))
	if !reflect.DeepEqual(warmed.Workloads, cold.Workloads) || warmed.Script != cold.Script || !warmed.Generated.Equal(cold.Generated) {
		t.Errorf("the warm report (generated %s)\n%+v\ndiffers from a first view's (%s)\n%+v", warmed.Generated, warmed.Workloads, cold.Generated, cold.Workloads)
	}

	d, err := Handler(Options{Cluster: f.cluster, Incidents: f.incidents})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WarmRecommendations(t.Context()); err != nil {
		t.Errorf("without a history: %v", err)
	}
}

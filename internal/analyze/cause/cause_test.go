package cause

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/history"
)

var t0 = time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)

// story writes 6 h of 30 s samples for node n1: a leaking pod without a
// limit (+1 GiB/h from 500 MiB), a steady one, a spiky one, and the node's
// major-page-fault counter: 2/s, then 400/s in the last 4 minutes.
func story(t *testing.T, thrash bool) *history.DB {
	t.Helper()
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	mem := func(pod string) labels.Labels {
		return labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", "emails", "pod", pod, "container", "app", "node", "n1")
	}
	faults := labels.FromStrings("__name__", "container_memory_failures_total", "failure_type", "pgmajfault", "scope", "hierarchy", "id", "/", "node", "n1")
	var counter float64
	steps := 6 * 120
	var batch []collect.Sample
	for i := range steps {
		ts := t0.Add(time.Duration(i) * 30 * time.Second)
		rate := 2.0
		if thrash && i >= steps-8 {
			rate = 400
		}
		counter += rate * 30
		spike := 0.0
		if i%60 < 3 {
			spike = 800 << 20
		}
		batch = append(batch,
			collect.Sample{Labels: mem("ue-1"), T: ts.UnixMilli(), V: float64(500<<20) + float64(i)*float64(1<<30)/120},
			collect.Sample{Labels: mem("web-1"), T: ts.UnixMilli(), V: float64(300 << 20)},
			collect.Sample{Labels: mem("batch-1"), T: ts.UnixMilli(), V: float64(200<<20) + spike},
			collect.Sample{Labels: faults, T: ts.UnixMilli(), V: counter},
		)
	}
	if _, err := db.Append(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	return db
}

func pods() []health.PodReport {
	lim := int64(1 << 30)
	return []health.PodReport{
		{Namespace: "emails", Name: "ue-1", Owner: cluster.Owner{Kind: "ReplicationController", Name: "unanswered-emails"}},
		{Namespace: "emails", Name: "web-1", Owner: cluster.Owner{Kind: "Deployment", Name: "web"}, MemoryLimit: &lim},
		{Namespace: "emails", Name: "batch-1", Owner: cluster.Owner{Kind: "CronJob", Name: "batch"}},
	}
}

func TestLeakAndThrashing(t *testing.T) {
	db := story(t, true)
	at := t0.Add(6*time.Hour - 30*time.Second)
	c, err := Analyze(context.Background(), db, "n1", at, pods(), DefaultOptions())
	if err != nil || c == nil {
		t.Fatalf("Analyze: %+v %v", c, err)
	}
	if c.Namespace != "emails" || c.Kind != "ReplicationController" || c.Name != "unanswered-emails" || c.Pod != "ue-1" {
		t.Errorf("culprit %s/%s/%s (%s), want emails/ReplicationController/unanswered-emails", c.Namespace, c.Kind, c.Name, c.Pod)
	}
	if g := c.GrowthBytesPerHour / (1 << 30); g < 0.9 || g > 1.1 {
		t.Errorf("growth %.2f GiB/h, want 1 ± 10%%", g)
	}
	if c.MemoryLimit != nil || c.MemoryAtFailure < 6<<30 {
		t.Errorf("limit %v, memory at failure %d", c.MemoryLimit, c.MemoryAtFailure)
	}
	if c.PageFaultRatio < 50 || c.PageFaultsPerSecond < 300 {
		t.Errorf("page faults ×%.1f at %.0f/s, want ~200× at 400/s", c.PageFaultRatio, c.PageFaultsPerSecond)
	}
	for _, want := range []string{"emails/ReplicationController/unanswered-emails", "+1.0 GiB/h", "no memory limit", "GiB at failure", "major page faults ×"} {
		if !strings.Contains(c.Summary, want) {
			t.Errorf("summary %q lacks %q", c.Summary, want)
		}
	}
}

// TestNothingToBlame: steady and spiky pods and a calm node explain
// nothing; a leak alone is named without page faults.
func TestNothingToBlame(t *testing.T) {
	db := story(t, false)
	at := t0.Add(6*time.Hour - 30*time.Second)
	calm := pods()[1:]
	if c, err := Analyze(context.Background(), db, "n1", at, calm, DefaultOptions()); err != nil || c != nil {
		t.Errorf("steady and spiky pods blamed: %+v %v", c, err)
	}
	c, err := Analyze(context.Background(), db, "n1", at, pods(), DefaultOptions())
	if err != nil || c == nil || c.Pod != "ue-1" || c.PageFaultRatio != 0 || strings.Contains(c.Summary, "page faults") {
		t.Errorf("leak without thrashing: %+v %v", c, err)
	}
}

// TestShortHistory: ten minutes of growth is not enough to blame anyone.
func TestShortHistory(t *testing.T) {
	db := story(t, false)
	at := t0.Add(8 * time.Minute)
	if c, err := Analyze(context.Background(), db, "n1", at, pods(), DefaultOptions()); err != nil || c != nil {
		t.Errorf("blamed on 8 minutes of history: %+v %v", c, err)
	}
	if c, err := Analyze(context.Background(), db, "other", t0.Add(time.Hour), pods(), DefaultOptions()); err != nil || c != nil {
		t.Errorf("a node without history: %+v %v", c, err)
	}
}

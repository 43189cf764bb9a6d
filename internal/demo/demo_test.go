package demo

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// The demo prints the alerts from the daemon's log: what the log sink
// writes must read back as the same title and text, the likely cause on
// its own line.
func TestParseAlertReadsTheLogSink(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	m := &notify.Message{
		Rule: "NodeNotReady", Status: notify.Firing, Severity: "critical", IncidentID: "20261130-000102-ab12cd",
		Title: "node-1 is down",
		Text:  "Likely cause: emails/ReplicationController/unanswered-emails — +187.5 GiB/h for 2 min, no memory limit, 7.4 GiB at failure; \"major\" page faults from none to 750/s\nsecond line",
		Nodes: []health.NodeReport{{Name: "node-1", Pods: []health.PodReport{{Name: "a"}, {Name: "b"}}}, {Name: "node 2"}},
	}
	if _, err := (notify.LogNotifier{Log: log}).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got, ok := parseAlert(buf.String())
	if !ok {
		t.Fatalf("not read as an alert: %s", buf.String())
	}
	want := alert{Title: m.Title, Text: m.Text, Rule: m.Rule, Status: m.Status, Severity: m.Severity}
	if got != want {
		t.Errorf("parseAlert(%s)\n got %+v\nwant %+v", buf.String(), got, want)
	}
	for _, line := range []string{
		`time=2026-11-30T00:01:02Z level=INFO msg="history scrape" nodes=4`,
		`time=2026-11-30T00:01:02Z level=WARN msg="ALERTING is not an alert"`,
		``,
	} {
		if a, ok := parseAlert(line); ok {
			t.Errorf("parseAlert(%q) = %+v, want no alert", line, a)
		}
	}
}

// tail prints an alert once, even when the daemon's write of its line
// arrives in pieces.
func TestTailWholeLinesOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodewatch.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // every write was checked and tail has read them
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []alert
	done := make(chan error)
	go func() {
		done <- tail(ctx, path, func(a alert) { mu.Lock(); got = append(got, a); mu.Unlock() })
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	writeAndWait := func(s string, want int) {
		t.Helper()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for count() != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(400 * time.Millisecond) // a poll past the write
		if n := count(); n != want {
			t.Fatalf("after writing %q: %d alerts, want %d", s, n, want)
		}
	}
	writeAndWait(`level=INFO msg="started"`+"\n"+`level=WARN msg="ALERT node-1 is d`, 0)
	writeAndWait(`own" rule=NodeNotReady status=firing severity=critical text="Likely cause: x"`+"\n", 1)
	writeAndWait(`level=INFO msg="ALERT node-1 recovered (NodeNotReady after 1m15s)" status=resolved`+"\n", 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got[0].Title != "node-1 is down" || got[0].Text != "Likely cause: x" || got[1].Status != "resolved" {
		t.Errorf("alerts %+v", got)
	}
}

func pod(node string, created time.Time, annotations map[string]string, containers int) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", CreationTimestamp: metav1.NewTime(created), Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c"})
	}
	return p
}

// The harness fails a node when kwok's simulated memory of its pods
// exceeds it: the Go formula must match the CEL one in simcluster's usage.
func TestSimulatedMemory(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	const mi = 1 << 20
	tests := []struct {
		name        string
		age         time.Duration
		annotations map[string]string
		containers  int
		want        int64
	}{
		{"no annotations: 1Mi", time.Minute, nil, 1, mi},
		{"steady", time.Hour, map[string]string{simcluster.AnnotationMemory: "350Mi"}, 1, 350 * mi},
		{"steady, two containers", time.Hour, map[string]string{simcluster.AnnotationMemory: "350Mi"}, 2, 700 * mi},
		{"leak after 2 min", 2 * time.Minute, map[string]string{simcluster.AnnotationMemory: "600Mi", simcluster.AnnotationLeak: "3200"}, 1, 7000 * mi},
		{"leak on 1Mi", 30 * time.Second, map[string]string{simcluster.AnnotationLeak: "60"}, 1, 31 * mi},
		{"warming up", 15 * time.Second, map[string]string{simcluster.AnnotationMemory: "200Mi", simcluster.AnnotationLeak: "1200", simcluster.AnnotationWarmup: "30"}, 1, 500 * mi},
		{"warmed up: a plateau", time.Hour, map[string]string{simcluster.AnnotationMemory: "200Mi", simcluster.AnnotationLeak: "1200", simcluster.AnnotationWarmup: "30"}, 1, 800 * mi},
		{"spike in the first 15 s of 90", 95 * time.Second, map[string]string{simcluster.AnnotationMemory: "250Mi", simcluster.AnnotationSpike: "1200Mi"}, 1, 1200 * mi},
		{"after the spike", 110 * time.Second, map[string]string{simcluster.AnnotationMemory: "250Mi", simcluster.AnnotationSpike: "1200Mi"}, 1, 250 * mi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod("node-0", now.Add(-tt.age), tt.annotations, tt.containers)
			if got := simulatedMemory(&p, now); got != tt.want {
				t.Errorf("got %d MiB, want %d MiB", got/mi, tt.want/mi)
			}
		})
	}
}

// Finished pods and pods being deleted (evicted from a failed node) free
// their memory; unscheduled pods use none.
func TestNodeNeeds(t *testing.T) {
	now := time.Now()
	steady := map[string]string{simcluster.AnnotationMemory: "1Gi"}
	deleting := pod("node-0", now, steady, 1)
	deleting.DeletionTimestamp = ptr(metav1.NewTime(now))
	done := pod("node-0", now, steady, 1)
	done.Status.Phase = corev1.PodSucceeded
	got := nodeNeeds([]corev1.Pod{pod("node-0", now, steady, 1), pod("node-1", now, steady, 2), deleting, done, pod("", now, steady, 1)}, now)
	if len(got) != 2 || got["node-0"] != 1<<30 || got["node-1"] != 2<<30 {
		t.Errorf("nodeNeeds = %v, want node-0 1 GiB, node-1 2 GiB", got)
	}
}

// The culprit is the only job without a memory limit, and a
// ReplicationController, as in the story.
func TestCompanyHasOneUnboundedJob(t *testing.T) {
	var unbounded []string
	for _, j := range company {
		if j.MemoryLimit == "" {
			unbounded = append(unbounded, j.String())
		}
	}
	if len(unbounded) != 1 || unbounded[0] != "emails/ReplicationController/unanswered-emails" || culprit.String() != unbounded[0] {
		t.Errorf("jobs without a memory limit: %v, culprit %s", unbounded, culprit)
	}
}

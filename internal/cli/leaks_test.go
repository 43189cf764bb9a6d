package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/api"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

// TestFindLeaksOfADeadPod: a leaking pod killed with its node 3 minutes
// into its life is judged on its samples, not on the 5 minutes a plain
// range query repeats its last value for, which would read as a warm-up
// plateau (the demo's suspects found no leak evidence because of it).
func TestFindLeaksOfADeadPod(t *testing.T) {
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	l := labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", "emails", "pod", "unanswered-emails-x7k2p",
		"container", "app", "node", "node-1", "workload_kind", "ReplicationController", "workload", "unanswered-emails")
	for i := range 37 { // 3 minutes at 5 s, +3200 MiB a minute
		s := []collect.Sample{{Labels: l, T: t0.Add(time.Duration(i) * 5 * time.Second).UnixMilli(), V: float64(600<<20 + i*(3200<<20)/12)}}
		if _, err := db.Append(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	api.PromHandlers(mux, db, time.Now, api.DefaultLimits)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a, err := historyAPI(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	o := leak.DefaultOptions()
	o.MinSpan, o.MinPoints = time.Minute, 12
	found, err := findLeaks(context.Background(), a, "", t0.Add(15*time.Minute), 15*time.Minute, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !found[0].Verdict.Leak || found[0].Workload != "unanswered-emails" {
		t.Fatalf("want the dead pod's leak, got %+v", found)
	}
	if got := found[0].Verdict.SlopePerHour / (1 << 20); got < 0.9*192000 || got > 1.1*192000 {
		t.Errorf("slope %.0f MiB/h, want 192000 ± 10%%", got)
	}
}

package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/collect"
)

// TestDownsample: every complete 5-minute window gets its max and average,
// once, and a reopened store carries on after the last window it wrote.
func TestDownsample(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, leak(60)); err != nil { // 100..159 MiB, one a minute from t0
		t.Fatal(err)
	}
	now := t0.Add(59*time.Minute + 30*time.Second)
	n, err := db.Downsample(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// Windows end at t0+5m ... t0+55m, and the one ending at t0 itself.
	if n < 12 {
		t.Fatalf("wrote %d windows, want at least the 12 up to %s", n, now)
	}
	at := t0.Add(30 * time.Minute)
	for q, want := range map[string]float64{
		// The window (t0+25m, t0+30m]: samples at minutes 26..30.
		`nodewatch:container_memory_working_set_bytes:max5m`: float64(130 << 20),
		`nodewatch:container_memory_working_set_bytes:avg5m`: float64(128 << 20),
	} {
		v, err := db.Query(ctx, q, at)
		if err != nil {
			t.Fatal(err)
		}
		vec := v.(promql.Vector)
		if len(vec) != 1 || vec[0].F != want || vec[0].T != at.UnixMilli() || vec[0].Metric.Get("pod") != "ue-1" {
			t.Errorf("%s at %s = %v, want %v MiB with the source's labels", q, at, v, want/(1<<20))
		}
	}
	if n, err := db.Downsample(ctx, now); err != nil || n != 0 {
		t.Errorf("second run wrote %d windows (%v), want none", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	if n, err := db.Downsample(ctx, now); err != nil || n != 0 {
		t.Errorf("after reopening: wrote %d windows (%v), want none: they are stored", n, err)
	}
	if n, err := db.Downsample(ctx, now.Add(10*time.Minute)); err != nil || n != 2 {
		t.Errorf("10 minutes later: wrote %d windows (%v), want 2", n, err)
	}
	v, err := db.Query(ctx, `count_over_time(nodewatch:container_memory_working_set_bytes:max5m[2h])`, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Windows ending t0 ... t0+60m hold samples (13); the one ending
	// t0+65m has none, so it has no point.
	if vec := v.(promql.Vector); len(vec) != 1 || vec[0].F != 13 {
		t.Errorf("aggregate points: %v, want 13", v)
	}
}

// TestDownsampleCatchesUp: after a stop of several hours the windows of the
// day before are still written, though the head has moved past them.
func TestDownsampleCatchesUp(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	if _, err := db.Append(ctx, leak(60)); err != nil {
		t.Fatal(err)
	}
	// Newer raw samples arrive 5 hours on (the head moves), then the
	// aggregates for the first hour are computed.
	later := leak(1)
	later[0].T = t0.Add(5 * time.Hour).UnixMilli()
	if _, err := db.Append(ctx, later); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Downsample(ctx, t0.Add(5*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	v, err := db.Query(ctx, `count_over_time(nodewatch:container_memory_working_set_bytes:max5m[6h])`, t0.Add(5*time.Hour+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// 13 windows from the first hour, 1 for the sample 5 hours on.
	if vec := v.(promql.Vector); len(vec) != 1 || vec[0].F != 14 {
		t.Errorf("aggregate points after catching up: %v, want 14", v)
	}
}

// TestDownsampleSparseCounters: the restarts and OOM kills are stored only
// for the windows and containers that had them, and the marker says which
// windows were computed, so that a container that never restarts gets no
// series of them.
func TestDownsampleSparseCounters(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	var batch []collect.Sample
	for i := range 60 { // one a minute from t0
		ts := t0.Add(time.Duration(i) * time.Minute).UnixMilli()
		for _, pod := range []string{"steady", "flaky"} {
			cpu, ooms := float64(i), float64(0)
			if pod == "flaky" && i >= 22 { // restarted between minutes 21 and 22, OOM-killed
				cpu, ooms = float64(i-22), 1
			}
			l := func(name string) labels.Labels {
				return labels.FromStrings("__name__", name, "namespace", "ns", "pod", pod, "container", "app")
			}
			batch = append(batch, collect.Sample{Labels: l("container_cpu_usage_seconds_total"), T: ts, V: cpu},
				collect.Sample{Labels: l("container_oom_events_total"), T: ts, V: ooms})
		}
	}
	if _, err := db.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(59*time.Minute + 30*time.Second)
	if _, err := db.Downsample(ctx, now); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		// The window (t0+20m, t0+25m] holds the reset and the OOM kill.
		`nodewatch:container_cpu_usage:resets5m[2h]`:    `flaky 1 at 25m0s`,
		`nodewatch:container_oom_events:increase5m[2h]`: `flaky 1 at 25m0s`,
		// Every window of the 2 hours up to t0+55m was computed, those
		// before the first sample too.
		fmt.Sprintf(`count_over_time(%s[2h])`, SparseMarker): ` 24`,
	} {
		v, err := db.Query(ctx, q, now)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		switch v := v.(type) {
		case promql.Matrix:
			for _, s := range v {
				for _, p := range s.Floats {
					got = append(got, fmt.Sprintf("%s %.0f at %s", s.Metric.Get("pod"), p.F, time.UnixMilli(p.T).Sub(t0)))
				}
			}
		case promql.Vector:
			for _, s := range v {
				got = append(got, fmt.Sprintf("%s %.0f", s.Metric.Get("pod"), s.F))
			}
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
}

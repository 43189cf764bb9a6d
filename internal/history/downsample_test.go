package history

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
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
	defer db.Close()
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
	defer db.Close()
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

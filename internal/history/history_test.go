package history

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/collect"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// leak is a container whose working set grows 1 MiB a minute from 100 MiB.
func leak(minutes int) []collect.Sample {
	var out []collect.Sample
	for i := range minutes {
		out = append(out, collect.Sample{
			Labels: labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", "emails", "pod", "ue-1", "container", "ue", "node", "n1"),
			T:      t0.Add(time.Duration(i) * time.Minute).UnixMilli(),
			V:      float64(100<<20 + i<<20),
		})
	}
	return out
}

func TestAppendQueryReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Append(context.Background(), leak(30))
	if err != nil || r.Appended != 30 {
		t.Fatalf("append: %+v %v", r, err)
	}
	// A kubelet repeating a timestamp: the same value is absorbed, another
	// value is a counted duplicate, not an error.
	again := leak(30)[29:]
	if _, err := db.Append(context.Background(), again); err != nil {
		t.Errorf("re-append: %v", err)
	}
	again[0].V++
	if r, err := db.Append(context.Background(), again); err != nil || r.Duplicates != 1 {
		t.Errorf("conflicting re-append: %+v %v", r, err)
	}
	q := `max_over_time(container_memory_working_set_bytes{pod=~"ue-.*"}[10m])`
	v, err := db.Query(context.Background(), q, t0.Add(29*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(promql.Vector); len(vec) != 1 || vec[0].F != float64(129<<20) {
		t.Fatalf("%s = %v, want 129 MiB", q, v)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened (the WAL replayed), everything is there.
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	v, err = db.Query(context.Background(), `count_over_time(container_memory_working_set_bytes[1h])`, t0.Add(29*time.Minute))
	if err != nil || v.(promql.Vector)[0].F != 30 {
		t.Errorf("after reopen: %v %v, want 30 samples", v, err)
	}
}

// A crash can leave a torn record at the WAL's end: the store opens,
// keeping what is intact.
func TestTornWALTail(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(context.Background(), leak(10)); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: no Close; append garbage to the newest WAL segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "tsdb", "wal", "0*"))
	if len(segs) == 0 {
		t.Fatal("no WAL segment")
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0x01, 0x00, 0x10, 0xde, 0xad})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_ = db.tsdb.Close() // release the lock as the dead process would have
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after a torn WAL: %v", err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	v, err := db.Query(context.Background(), `count_over_time(container_memory_working_set_bytes[1h])`, t0.Add(9*time.Minute))
	if err != nil || len(v.(promql.Vector)) != 1 || v.(promql.Vector)[0].F != 10 {
		t.Errorf("after repair: %v %v, want the 10 intact samples", v, err)
	}
}

func ExampleDB_Query() {
	dir, _ := os.MkdirTemp("", "history-example")
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	db, _ := Open(dir, Options{})
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	_, _ = db.Append(context.Background(), leak(60))
	v, _ := db.Query(context.Background(), `deriv(container_memory_working_set_bytes[30m]) * 3600 / 2^20`, t0.Add(59*time.Minute))
	fmt.Printf("growth: %.0f MiB/h\n", v.(promql.Vector)[0].F)
	// Output: growth: 60 MiB/h
}

// TestResultsOutliveTheQuery: a result stays intact after later queries.
// The PromQL engine's contract is that a result is valid until its query is
// closed (Close returns matrix point slices to a pool), and DB closes
// before returning, so it copies the result out (detach). With this engine
// version the reuse did not show in this test without the copy: it guards
// the contract, it does not reproduce a failure.
func TestResultsOutliveTheQuery(t *testing.T) {
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	if _, err := db.Append(context.Background(), leak(60)); err != nil {
		t.Fatal(err)
	}
	q := `container_memory_working_set_bytes`
	first, err := db.QueryRange(context.Background(), q, t0, t0.Add(59*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(first.(promql.Matrix)[0].Floats)
	for range 5 {
		if _, err := db.QueryRange(context.Background(), q+" * 2", t0, t0.Add(59*time.Minute), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got := first.(promql.Matrix)[0].Floats; !slices.Equal(got, want) {
		t.Errorf("the first result changed under later queries: %v... want %v...", got[:3], want[:3])
	}
}

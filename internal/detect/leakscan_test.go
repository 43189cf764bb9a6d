package detect

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"

	"github.com/nodewatch/nodewatch/internal/analyze/leak"
	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

const mi = 1 << 20

// shapes are working sets over time (h hours from the start): what the
// leak rule must tell apart.
var shapes = []struct {
	name string
	f    func(h float64) float64
}{
	{"leak", func(h float64) float64 { return 300*mi + 150*mi*h }},
	{"leak-restarts", func(h float64) float64 { return 100*mi + math.Mod(200*mi*h, 3000*mi) }},
	{"plateau", func(h float64) float64 { return 100*mi + 900*mi*(1-math.Exp(-h/3)) }},
	{"spiky", func(h float64) float64 {
		if math.Mod(h*60, 90) < 10 {
			return 1500 * mi
		}
		return 200 * mi
	}},
	{"flat", func(float64) float64 { return 400 * mi }},
	{"slow", func(h float64) float64 { return 400*mi + 2*mi*h }},
}

// liveState is a cluster whose pods the test changes between passes.
type liveState struct{ *state }

// shapeStore writes, for each of n containers (shape i % len(shapes), one
// pod each, on 3 nodes), their raw working sets every 30 s and their
// 5-minute maxima, as the daemon does.
type shapeStore struct {
	db    *history.DB
	st    *state
	start time.Time
	now   time.Time
	raw   []labels.Labels
	agg   []labels.Labels
	r     *rand.Rand
	// silent containers write nothing from then on.
	silent map[int]bool
}

func newShapeStore(t *testing.T, n int) *shapeStore {
	t.Helper()
	db, err := history.Open(t.TempDir(), history.Options{Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := &shapeStore{db: db, st: &state{}, r: rand.New(rand.NewPCG(3, 4)), silent: map[int]bool{},
		start: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}
	s.now = s.start
	for i := range 3 {
		s.st.nodes = append(s.st.nodes, cluster.Node{Name: fmt.Sprintf("n%d", i), AllocatableMemory: 64 << 30})
	}
	for i := range n {
		ns, pod, node := "ns", fmt.Sprintf("%s-%d-x", shapes[i%len(shapes)].name, i), fmt.Sprintf("n%d", i%3)
		s.raw = append(s.raw, labels.FromStrings("__name__", "container_memory_working_set_bytes", "container", "app", "namespace", ns, "node", node, "pod", pod))
		s.agg = append(s.agg, labels.FromStrings("__name__", history.Aggregates[0].Name, "container", "app", "namespace", ns, "node", node, "pod", pod))
		var limit *int64
		if i%4 == 1 {
			l := int64(40 << 30)
			limit = &l
		}
		s.st.pods = append(s.st.pods, &cluster.Pod{Namespace: ns, Name: pod, NodeName: node,
			Owner: cluster.Owner{Kind: "Deployment", Name: fmt.Sprintf("%s-%d", shapes[i%len(shapes)].name, i)}, Containers: []cluster.Container{{Name: "app", Limits: cluster.Resources{Memory: limit}}}})
	}
	return s
}

// advance writes d more of every container's samples, in 5-minute windows.
func (s *shapeStore) advance(t *testing.T, d time.Duration) {
	t.Helper()
	for end := s.now.Add(d); s.now.Before(end); {
		maxes := make([]float64, len(s.raw))
		var batch []collect.Sample
		for k := 1; k <= 10; k++ {
			ts := s.now.Add(time.Duration(k) * 30 * time.Second)
			h := ts.Sub(s.start).Hours()
			for i, l := range s.raw {
				if s.silent[i] {
					continue
				}
				v := math.Max(0, shapes[i%len(shapes)].f(h)+s.r.NormFloat64()*5*mi)
				maxes[i] = max(maxes[i], v)
				batch = append(batch, collect.Sample{Labels: l, T: ts.UnixMilli(), V: v})
			}
		}
		s.now = s.now.Add(5 * time.Minute)
		for i, l := range s.agg {
			if !s.silent[i] {
				batch = append(batch, collect.Sample{Labels: l, T: s.now.UnixMilli(), V: maxes[i]})
			}
		}
		if _, err := s.db.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIncrementalMatchesFull: a History that keeps what it read between
// passes finds, pass after pass, exactly what a fresh one reading the
// whole window finds — on raw samples (30 min), 5-minute maxima (6 h) and
// hourly buckets (3 days), across hour boundaries, with a pod that joins
// the cluster with history already stored, one that is deleted and one
// whose container stops reporting. Incremental passes judge only what
// changed.
func TestIncrementalMatchesFull(t *testing.T) {
	for _, window := range []time.Duration{30 * time.Minute, 6 * time.Hour, 3 * 24 * time.Hour} {
		t.Run(window.String(), func(t *testing.T) {
			ctx := context.Background()
			s := newShapeStore(t, 24)
			s.advance(t, window+time.Hour)
			late := s.st.pods[6] // a leak the cluster does not know yet
			s.st.pods = append(s.st.pods[:6:6], s.st.pods[7:]...)
			rules := DefaultHistoryRules()
			rules.LeakWindow = window
			rules.ExhaustionWithin = 30 * 24 * time.Hour // exhaustion findings for every leak
			cached := NewHistory(rules, s.db, liveState{s.st})
			leaks, incremental := 0, 0
			for step := range 30 {
				switch step {
				case 4:
					s.st.pods = append(s.st.pods, late)
				case 9:
					s.st.pods = s.st.pods[1:] // deleted: its leak is no longer reported
				case 12:
					s.silent[12] = true // a leak that stops reporting
				}
				for _, at := range []time.Time{s.now, s.now.Add(time.Minute), s.now.Add(2 * time.Minute)} {
					got, err := cached.Evaluate(ctx, at)
					if err != nil {
						t.Fatal(err)
					}
					if !cached.scan.full {
						incremental++
						// Raw samples leave a 30-minute window every 30 s;
						// 5-minute maxima only every 5 minutes.
						if at != s.now && window >= time.Hour && cached.scan.judged != 0 {
							t.Errorf("step %d %s: %d series judged again with no new data", step, at.Format(time.TimeOnly), cached.scan.judged)
						}
					}
					want, err := NewHistory(rules, s.db, liveState{s.st}).Evaluate(ctx, at)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("step %d at %s: incremental\n%s\nfull\n%s", step, at.Format(time.TimeOnly), dump(got), dump(want))
					}
					leaks = max(leaks, len(got))
				}
				s.advance(t, 5*time.Minute)
			}
			if incremental < 60 {
				t.Errorf("only %d of 90 passes were incremental", incremental)
			}
			if leaks < 6 {
				t.Errorf("at most %d findings: the leaks were not found", leaks)
			}
		})
	}
}

// TestLeakCacheDropsStale: what the cache keeps is bounded by the live
// pods with points in the window — a deleted pod's series is dropped at
// the next pass, a container that stops reporting once its last point
// leaves the window; a pod that comes back under the same name is judged
// on its whole window again.
func TestLeakCacheDropsStale(t *testing.T) {
	ctx := context.Background()
	s := newShapeStore(t, 12)
	s.advance(t, 2*time.Hour)
	rules := DefaultHistoryRules()
	rules.LeakWindow = time.Hour
	h := NewHistory(rules, s.db, liveState{s.st})
	cached := func() int {
		n := 0
		for _, sh := range h.scan.shards {
			n += len(sh.series)
		}
		return n
	}
	eval := func() []Finding {
		t.Helper()
		f, err := h.Evaluate(ctx, s.now)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	eval()
	if n := cached(); n != 12 {
		t.Fatalf("%d series cached, want 12", n)
	}
	gone := s.st.pods[0] // a leak
	s.st.pods = s.st.pods[1:]
	s.silent[1] = true // leak-restarts stops reporting
	s.advance(t, 5*time.Minute)
	eval()
	if h.scan.full {
		t.Fatal("the second pass read everything")
	}
	if n := cached(); n != 11 {
		t.Errorf("%d series cached after a pod was deleted, want 11", n)
	}
	s.advance(t, 30*time.Minute)
	for range 7 { // the silent series' last point leaves the window
		s.advance(t, 5*time.Minute)
		eval()
	}
	if n := cached(); n != 10 {
		t.Errorf("%d series cached an hour after one stopped, want 10", n)
	}
	s.st.pods = append(s.st.pods, gone) // back, same name: its points are still stored
	s.advance(t, 5*time.Minute)
	got := eval()
	if h.scan.full {
		t.Fatal("read everything")
	}
	want, err := NewHistory(rules, s.db, liveState{s.st}).Evaluate(ctx, s.now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the pod came back: incremental\n%s\nfull\n%s", dump(got), dump(want))
	}
	if n := cached(); n != 11 {
		t.Errorf("%d series cached after the pod came back, want 11", n)
	}
}

// TestHourlyBucketsMatchFiveMinutes: over 14 days the leak rule judges
// hourly maxima of the 5-minute maxima, where it used to judge the 5-minute
// maxima themselves: the same containers leak, at rates within 2%.
func TestHourlyBucketsMatchFiveMinutes(t *testing.T) {
	ctx := context.Background()
	s := newShapeStore(t, 36)
	s.advance(t, 14*24*time.Hour)
	rules := DefaultHistoryRules()
	rules.LeakWindow = 14 * 24 * time.Hour
	h := NewHistory(rules, s.db, liveState{s.st})
	pods := map[string]*cluster.Pod{}
	for _, p := range s.st.pods {
		pods[p.Key()] = p
	}
	got, err := h.scan.leaks(ctx, s.db, pods, s.now)
	if err != nil {
		t.Fatal(err)
	}
	if h.scan.bucket != time.Hour {
		t.Fatalf("bucket %s, want 1h", h.scan.bucket)
	}
	rates := map[string]float64{}
	for _, g := range got {
		rates[g.pod.Name] = g.verdict.SlopePerHour
	}
	// The rule as it was: every 5-minute maximum, a 40-minute spike filter.
	o := leak.DefaultOptions()
	o.MinSpan, o.SpikeWindow, o.MinSlope, o.MinPoints, o.MaxFit = rules.LeakWindow/2, 40*time.Minute, rules.LeakMinGrowth, 10, 120
	v, err := s.db.Query(ctx, fmt.Sprintf(`%s[14d]`, history.Aggregates[0].Name), s.now)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := v.(promql.Matrix)
	if len(m) != 36 {
		t.Fatalf("%d series", len(m))
	}
	leaking := 0
	for _, ser := range m {
		pts := make([]leak.Point, len(ser.Floats))
		for i, f := range ser.Floats {
			pts[i] = leak.Point{T: time.UnixMilli(f.T), V: f.F}
		}
		old := leak.Analyze(pts, o)
		name := ser.Metric.Get("pod")
		rate, found := rates[name]
		was := old.Leak && old.SlopePerHour >= rules.LeakMinGrowth
		if was != found {
			t.Errorf("%s: leak %v on hourly buckets, %v on 5-minute maxima (%s)", name, found, was, old.Reason)
			continue
		}
		if was {
			leaking++
			if math.Abs(rate-old.SlopePerHour) > 0.02*old.SlopePerHour {
				t.Errorf("%s: %.1f MiB/h on hourly buckets, %.1f on 5-minute maxima", name, rate/mi, old.SlopePerHour/mi)
			}
		}
	}
	if leaking != 12 {
		t.Errorf("%d leaks, want the 12 leaking containers", leaking)
	}
}

// TestLateWritesCaughtWithinAnHour: points written long after their time
// (a backfill, too late for the incremental read) are in the cache within
// 60 passes, as each pass reads a sixtieth of the series whole again.
func TestLateWritesCaughtWithinAnHour(t *testing.T) {
	ctx := context.Background()
	s := newShapeStore(t, 12)
	s.advance(t, 3*time.Hour)
	rules := DefaultHistoryRules()
	rules.LeakWindow = 2 * time.Hour
	h := NewHistory(rules, s.db, liveState{s.st})
	if _, err := h.Evaluate(ctx, s.now); err != nil {
		t.Fatal(err)
	}
	// Container 0 goes quiet for 30 minutes; its 5-minute maxima for them
	// come 20 minutes later.
	s.silent[0] = true
	gapStart := s.now
	for range 6 {
		s.advance(t, 5*time.Minute)
		if _, err := h.Evaluate(ctx, s.now); err != nil {
			t.Fatal(err)
		}
	}
	s.silent[0] = false
	for range 4 {
		s.advance(t, 5*time.Minute)
		if _, err := h.Evaluate(ctx, s.now); err != nil {
			t.Fatal(err)
		}
	}
	var backfill []collect.Sample
	for ts := gapStart.Add(5 * time.Minute); !ts.After(gapStart.Add(30 * time.Minute)); ts = ts.Add(5 * time.Minute) {
		backfill = append(backfill, collect.Sample{Labels: s.agg[0], T: ts.UnixMilli(), V: shapes[0].f(ts.Sub(s.start).Hours())})
	}
	if _, err := s.db.Append(ctx, backfill); err != nil {
		t.Fatal(err)
	}
	points := func(h *History) map[uint64]int {
		out := map[uint64]int{}
		for _, sh := range h.scan.shards {
			for k, p := range sh.series {
				out[k] = len(p.t)
			}
		}
		return out
	}
	for pass := range resyncSlots {
		at := s.now.Add(time.Duration(pass%5) * time.Minute)
		if pass%5 == 0 && pass > 0 {
			s.advance(t, 5*time.Minute)
			at = s.now
		}
		got, err := h.Evaluate(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if h.scan.full {
			t.Fatalf("pass %d read everything", pass)
		}
		if pass == resyncSlots-1 {
			fresh := NewHistory(rules, s.db, liveState{s.st})
			want, err := fresh.Evaluate(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("incremental\n%s\nfull\n%s", dump(got), dump(want))
			}
			if g, w := points(h), points(fresh); !reflect.DeepEqual(g, w) {
				t.Errorf("points per series after an hour of passes: %v, read whole: %v", g, w)
			}
		}
	}
}

// TestNodeWorkingSetsMatchPromQL: the nodes' working sets read directly
// are PromQL's sum by node of each container's newest sample in the
// lookback — without the containers gone quiet for longer, or whose newest
// sample is a staleness marker.
func TestNodeWorkingSetsMatchPromQL(t *testing.T) {
	ctx := context.Background()
	s := newShapeStore(t, 12)
	s.advance(t, time.Hour)
	s.silent[3] = true
	s.advance(t, 10*time.Minute)
	if _, err := s.db.Append(ctx, []collect.Sample{{Labels: s.raw[4], T: s.now.Add(-10 * time.Second).UnixMilli(), V: math.Float64frombits(value.StaleNaN)}}); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{s.now, s.now.Add(-7 * time.Minute), s.now.Add(-20 * time.Second)} {
		got, err := nodeWorkingSets(ctx, s.db.Queryable(), at)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.db.Query(ctx, `sum by (node) (container_memory_working_set_bytes{container!="",container!="POD"})`, at)
		if err != nil {
			t.Fatal(err)
		}
		vec, _ := v.(promql.Vector)
		if len(vec) != len(got) || len(got) != 3 {
			t.Fatalf("at %s: %v, PromQL %v", at.Format(time.TimeOnly), got, vec)
		}
		for _, smp := range vec {
			if w := smp.F; math.Abs(got[smp.Metric.Get("node")]-w) > 1e-9*w {
				t.Errorf("at %s, node %s: %.0f, PromQL %.0f", at.Format(time.TimeOnly), smp.Metric.Get("node"), got[smp.Metric.Get("node")], w)
			}
		}
	}
}

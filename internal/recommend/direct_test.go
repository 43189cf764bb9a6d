package recommend

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

// The embedded store is read directly.
var _ seriesReader = (*history.DB)(nil)

// promQLOnly hides the store's direct reader: readHistory goes through
// PromQL, as it does for a remote Prometheus.
type promQLOnly struct{ db *history.DB }

func (p promQLOnly) Query(ctx context.Context, q string, at time.Time) (parser.Value, error) {
	return p.db.Query(ctx, q, at)
}

func (p promQLOnly) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (parser.Value, error) {
	return p.db.QueryRange(ctx, q, start, end, step)
}

// directFixture is 8 hours of 30 s samples of three namespaces' containers,
// with what readHistory must convert alike either way: CPU counters that
// reset (restarts), OOM counters that rise, also across a reset, or drop to
// 0; gaps; a staleness marker; a container in two series (its workload
// labels added on the way, both scraped for an hour, with different
// values); limits that change; pause containers and cgroup totals to leave
// out; samples exactly at the ends of the range; a limit whose last samples
// are staleness markers. It returns the store (partly compacted into
// blocks, the rest in the head) and its now.
func directFixture(t *testing.T) (*history.DB, time.Time) {
	t.Helper()
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	start := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	const steps = 8 * 120                            // 8 hours of 30 s
	now := start.Add((steps - 3) * 30 * time.Second) // a sample's time, not on a 5-minute boundary
	stale := math.Float64frombits(value.StaleNaN)
	type container struct {
		ns, pod, name string
		extra         []string // more labels
		from, to      int      // scraped from step from to step to (exclusive)
		gap           [2]int   // not scraped in these steps
	}
	var cs []container
	for _, ns := range []string{"shop", "batch", "ops"} {
		for p := range 3 {
			cs = append(cs, container{ns: ns, pod: fmt.Sprintf("%s-%d", ns, p), name: "app", from: 0, to: steps,
				extra: []string{"workload_kind", "Deployment", "workload", ns}})
		}
	}
	cs[1].gap = [2]int{200, 420}                                                                                        // 1 h 50 min missing
	cs[2].from, cs[2].to = 300, 700                                                                                     // a pod that came and went
	cs[4].extra = nil                                                                                                   // no workload labels (a plain Prometheus' relabelling)
	cs = append(cs, container{ns: "shop", pod: "shop-0", name: "app", from: 500, to: steps + 1, gap: [2]int{620, 900}}) // shop-0/app again, unlabelled
	cs = append(cs, container{ns: "ops", pod: "ops-0", name: "POD", from: 0, to: steps})                                // the pause container
	var batch []collect.Sample
	add := func(name string, c container, i int, v float64) {
		l := append([]string{"__name__", name, "namespace", c.ns, "pod", c.pod, "container", c.name, "node", "n1"}, c.extra...)
		batch = append(batch, collect.Sample{Labels: labels.FromStrings(l...), T: start.Add(time.Duration(i) * 30 * time.Second).UnixMilli(), V: v})
	}
	for i := range steps + 1 {
		batch = batch[:0]
		for k, c := range cs {
			if i < c.from || i >= c.to || (i >= c.gap[0] && i < c.gap[1]) {
				continue
			}
			mem := float64(100<<20 + k<<20 + (i*7919%97)<<16)
			if i == 650 && k == 5 {
				mem = stale
			}
			add("container_memory_working_set_bytes", c, i, mem)
			cpu := float64(i-c.from) * 0.25 * float64(k+1) // seconds
			if k%3 == 0 && i >= 400 {
				cpu = float64(i-400) * 0.1 // restarted at step 400
			}
			if k == 6 && i == 410 {
				cpu = 1000 // a glitch at a window's end, down again at the next window's first sample
			}
			add("container_cpu_usage_seconds_total", c, i, cpu)
			ooms := float64(0)
			switch {
			case k == 0:
				ooms = float64(i / 300) // a kill every 2.5 hours
			case k == 3 && i >= 100:
				ooms = 2
				if i >= 550 {
					ooms = 1 // reset to 1: a kill
				}
			case k == 7 && i >= 100 && i < 600:
				ooms = 3 // then reset to 0: no kill
			}
			add("container_oom_events_total", c, i, ooms)
			limit := float64(512 << 20)
			if i >= 600 {
				limit = 768 << 20
			}
			if k == 8 {
				limit = 0 // no limit
			}
			if k == 5 && i >= steps-40 {
				limit = stale // the last 20 minutes
			}
			add("container_spec_memory_limit_bytes", c, i, limit)
		}
		batch = append(batch, collect.Sample{Labels: labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", "", "pod", "", "container", "", "node", "n1"),
			T: start.Add(time.Duration(i) * 30 * time.Second).UnixMilli(), V: 8 << 30}) // the node's cgroup
		if _, err := db.Append(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db, now
}

// TestDirectMatchesPromQL: the embedded store read directly gives each
// container the same series as PromQL gives it — memory, CPU, restarts,
// OOM kills, limit, owner — at both resolutions, for every namespace and
// for one, without the downsampled aggregates, with those of a version
// before the sparse counters (whose restarts and OOM kills come from the
// raw counters), and with the sparse counters over the whole range or from
// the middle of it on (a data dir that was upgraded) up to half an hour
// before now (windows not downsampled yet): the last two give the same
// series as the one before, either way.
func TestDirectMatchesPromQL(t *testing.T) {
	type tcase struct {
		name string
		q    historyQuery
	}
	_, now := directFixture(t)
	var cases []tcase
	for _, ns := range []string{"", "shop"} {
		cases = append(cases,
			tcase{"raw 3h " + ns, historyQuery{namespace: ns, now: now, since: 3 * time.Hour, resolution: ResolutionRaw}},
			tcase{"raw 8h " + ns, historyQuery{namespace: ns, now: now, since: 8*time.Hour + 30*time.Second, resolution: ResolutionRaw}},
			tcase{"raw 10m " + ns, historyQuery{namespace: ns, now: now, since: 10*time.Minute + 500*time.Millisecond, resolution: ResolutionRaw}},
			tcase{"5m 7h " + ns, historyQuery{namespace: ns, now: now, since: 7 * time.Hour, resolution: Resolution5m}},
			tcase{"5m 3m " + ns, historyQuery{namespace: ns, now: now, since: 3 * time.Minute, resolution: Resolution5m}},
		)
	}
	compare := func(t *testing.T, db *history.DB, q historyQuery) map[seriesKey]*containerSeries {
		t.Helper()
		want, err := readHistory(t.Context(), promQLOnly{db}, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readHistory(t.Context(), db, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%d containers read directly, %d through PromQL", len(got), len(want))
		}
		for k, w := range want {
			if g := got[k]; !reflect.DeepEqual(g, w) {
				t.Errorf("%v: read directly\n%s\nthrough PromQL\n%s", k, describe(g), describe(w))
			}
		}
		return want
	}
	mid := now.Add(-4 * time.Hour).Truncate(history.Window)
	lag := now.Add(-30 * time.Minute) // the newest window downsampled in the upgraded store
	stores := []struct {
		name string
		// downsample writes the aggregates of the fixture's windows.
		downsample func(*history.DB) error
		// like is the store whose 5m series this one's must equal.
		like string
	}{
		{"no aggregates", func(*history.DB) error { return nil }, ""},
		{"aggregates without sparse counters", func(db *history.DB) error { return downsampleWithoutSparse(t, db, now) }, ""},
		{"sparse counters", func(db *history.DB) error { _, err := db.Downsample(t.Context(), now); return err }, "aggregates without sparse counters"},
		{"aggregates without sparse counters up to 30m ago", func(db *history.DB) error { return downsampleWithoutSparse(t, db, lag) }, ""},
		{"sparse counters from the middle", func(db *history.DB) error {
			if err := downsampleWithoutSparse(t, db, mid); err != nil {
				return err
			}
			_, err := db.Downsample(t.Context(), lag)
			return err
		}, "aggregates without sparse counters up to 30m ago"},
	}
	var raw8h, agg7h map[seriesKey]*containerSeries
	series := map[[2]string]map[seriesKey]*containerSeries{} // by store and case
	for _, st := range stores {
		db, _ := directFixture(t)
		if err := st.downsample(db); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s %s", tc.name, st.name), func(t *testing.T) {
				h := compare(t, db, tc.q)
				switch {
				case st.name == "no aggregates" && tc.name == "raw 8h ":
					raw8h = h
				case st.name == "sparse counters" && tc.name == "5m 7h ":
					agg7h = h
				}
				series[[2]string{st.name, tc.name}] = h
				if st.like == "" {
					return
				}
				want := series[[2]string{st.like, tc.name}]
				if len(h) != len(want) {
					t.Errorf("%d containers, %d without the sparse counters", len(h), len(want))
				}
				for k, w := range want {
					if g := h[k]; !reflect.DeepEqual(g, w) {
						t.Errorf("%v: with the sparse counters\n%s\nwithout\n%s", k, describe(g), describe(w))
					}
				}
			})
		}
		if st.name == "sparse counters from the middle" {
			// What the comparison covered: windows of the range before the
			// marker, after it, and after its last.
			q := historyQuery{now: now, since: 7 * time.Hour, resolution: Resolution5m}
			marks, err := newDirectSource(db.Queryable(), q).marks(t.Context(), history.SparseMarker)
			if err != nil || len(marks) == 0 || marks[0] != mid.Add(history.Window).UnixMilli() {
				t.Fatalf("sparse marker from %v (%v), want from %v", marks, err, mid.Add(history.Window))
			}
			var early, sparse, late int
			for _, c := range series[[2]string{st.like, "5m 7h "}] {
				for _, ts := range append(slices.Clone(c.restarts), c.ooms...) {
					switch {
					case !ts.After(mid):
						early++
					case ts.UnixMilli() <= marks[len(marks)-1]:
						sparse++
					default:
						late++
					}
				}
			}
			if early == 0 || sparse == 0 || late == 0 {
				t.Errorf("restarts and OOM kills: %d before the marker, %d under it, %d after it: the fixture does not cover each part", early, sparse, late)
			}
		}
	}
	// What the comparisons covered: each kind of event, in both ways.
	for name, h := range map[string]map[seriesKey]*containerSeries{"raw 8h": raw8h, "5m 7h with aggregates": agg7h} {
		namespaces := map[string]bool{}
		var restarts, ooms, limited, owned, memory int
		for k, c := range h {
			namespaces[k.namespace] = true
			restarts += len(c.restarts)
			ooms += len(c.ooms)
			memory += len(c.memory)
			if c.limit > 0 {
				limited++
			}
			if c.owner.Kind != "" {
				owned++
			}
			if k.container == "POD" || k.container == "" {
				t.Errorf("%s: %v read", name, k)
			}
		}
		if len(h) != 9 || len(namespaces) != 3 || restarts < 3 || ooms < 4 || limited != 8 || owned != 8 || memory == 0 {
			t.Errorf("%s: %d containers in %d namespaces, %d restarts, %d OOM kills, %d with a limit, %d with an owner: the fixture does not cover what it should",
				name, len(h), len(namespaces), restarts, ooms, limited, owned)
		}
	}
	if c := raw8h[seriesKey{"shop", "shop-1", "app"}]; c == nil || len(c.memory) >= 900 {
		t.Errorf("shop-1's gap is not in its raw history: %s", describe(c))
	}
}

// downsampleWithoutSparse writes the aggregates of every window of the
// fixture up to until as a version before the sparse counters did: each
// one not Sparse, with no marker. A Downsample after it carries on from
// the last window it wrote.
func downsampleWithoutSparse(t *testing.T, db *history.DB, until time.Time) error {
	t.Helper()
	from := until.Add(-24 * time.Hour).Truncate(history.Window)
	for w := from.Add(history.Window); !w.After(until); w = w.Add(history.Window) {
		var batch []collect.Sample
		for _, a := range history.Aggregates {
			if a.Sparse {
				continue
			}
			v, err := db.Query(t.Context(), a.Expr, w)
			if err != nil {
				return err
			}
			for _, s := range v.(promql.Vector) {
				l := labels.NewBuilder(s.Metric).Set(model.MetricNameLabel, a.Name).Labels()
				batch = append(batch, collect.Sample{Labels: l, T: w.UnixMilli(), V: s.F})
			}
		}
		if _, err := db.Append(t.Context(), batch); err != nil {
			return err
		}
	}
	return nil
}

func describe(c *containerSeries) string {
	if c == nil {
		return "none"
	}
	first := func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf(" (%v … %v)", c.memory[0], c.memory[n-1])
	}
	return fmt.Sprintf("owner %v, %d memory samples%s, %d CPU, restarts %v, OOM kills %v, limit %.0f",
		c.owner, len(c.memory), first(len(c.memory)), len(c.cpu), c.restarts, c.ooms, c.limit)
}

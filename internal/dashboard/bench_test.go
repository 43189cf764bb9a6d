package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/history"
)

// fixture1000 is a cluster of 1,000 nodes and 30,000 pods with 3 hours of
// history at one sample a minute (5.4 M container samples), and a handler
// serving it at the fixture's clock (o adds options).
func fixture1000(b *testing.B, o Options) http.Handler {
	b.Helper()
	const nodes, perNode = 1000, 30
	fc := &fakeCluster{leases: map[string]*coordinationv1.Lease{}}
	for i := range nodes {
		fc.nodes = append(fc.nodes, node(fmt.Sprintf("node-%04d", i), "True", now.Add(-24*time.Hour)))
		for j := range perNode {
			fc.pods = append(fc.pods, &cluster.Pod{Namespace: fmt.Sprintf("ns-%d", j), Name: fmt.Sprintf("app-%d-%04d", j, i),
				NodeName: fc.nodes[i].Name, Owner: cluster.Owner{Kind: "ReplicaSet", Name: fmt.Sprintf("app-%d-7d9f", j)}, TemplateHash: "7d9f",
				Phase: "Running", QOS: "Burstable", MemoryRequest: ptr(int64(256 << 20)), MemoryLimit: ptr(int64(512 << 20)),
				Containers: []cluster.Container{{Name: "app"}}})
		}
	}
	db, err := history.Open(b.TempDir(), history.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	series := make([]labels.Labels, len(fc.pods))
	for i, p := range fc.pods {
		series[i] = labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", p.Namespace, "pod", p.Name,
			"container", "app", "node", p.NodeName, "workload_kind", "Deployment", "workload", p.Owner.Name[:len(p.Owner.Name)-5])
	}
	start := now.Add(-3 * time.Hour)
	batch := make([]collect.Sample, 0, len(series)+2*nodes)
	for m := 0; m <= 180; m++ {
		at := start.Add(time.Duration(m) * time.Minute).UnixMilli()
		batch = batch[:0]
		for i, l := range series {
			v := float64(200<<20 + (i%17)<<20)
			if i%100 == 0 {
				v += float64(m) * (1 << 20) // a few grow
			}
			batch = append(batch, collect.Sample{Labels: l, T: at, V: v})
		}
		for _, n := range fc.nodes {
			batch = append(batch,
				collect.Sample{Labels: labels.FromStrings("__name__", "node_memory_working_set_bytes", "node", n.Name), T: at, V: 8 << 30},
				collect.Sample{Labels: labels.FromStrings("__name__", "container_memory_failures_total", "failure_type", "pgmajfault", "id", "/", "scope", "hierarchy", "node", n.Name), T: at, V: float64(m * 10)})
		}
		if _, err := db.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	o.Cluster, o.Incidents, o.Events, o.History = fc, fakeIncidents{}, fakeEvents{}, db
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	h, err := Handler(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return h
}

// pages1000 are the pages the benchmarks load, each with a string its
// data must hold. The recommendations size 30 workloads of 1,000 pods from
// the 3 hours of raw samples.
var pages1000 = []struct{ name, path, want string }{
	{"overview", "/api/ui/overview?range=3h", `"node-0999"`},
	{"node", "/api/ui/nodes/node-0500?range=3h", `"ns-0/app-0-0500"`},
	{"pod", "/api/ui/pods/ns-0/app-0-0500?range=3h", `"app"`},
	{"incidents", "/api/ui/incidents?range=3h", `"incidents"`},
	{"audit", "/api/ui/audit?range=3h", `"UnboundedPodsTogether"`},
	{"recommendations", "/api/ui/recommendations?range=3h", `"kubectl patch deployment/app-29 -n ns-29`},
}

// BenchmarkPages1000Nodes: each page's JSON at 1,000 nodes (fixture1000),
// over the server side of the page (the handler, PromQL included; the
// browser's drawing is BenchmarkBrowser1000Nodes'). Reports p50 and max
// per page. The recommendations are computed every time, as on a page's
// first view: each view pins a range ending a second earlier than the
// last (coldEnd), which no cached report is for, and waits for its report.
func BenchmarkPages1000Nodes(b *testing.B) {
	h := fixture1000(b, Options{RecommendWait: 10 * time.Minute})
	for _, page := range pages1000 {
		b.Run(page.name, func(b *testing.B) {
			b.ReportAllocs()
			var lat []time.Duration
			size := 0
			for range b.N {
				end := fmt.Sprintf("&end=%d", now.Unix())
				if page.name == "recommendations" {
					end = coldEnd()
				}
				rec := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, page.path+end, nil))
				lat = append(lat, time.Since(t0))
				size = rec.Body.Len()
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), page.want) {
					b.Fatalf("%s: %d, %d bytes without %s", page.path, rec.Code, rec.Body.Len(), page.want)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
			b.ReportMetric(float64(size)/1024, "json-KiB")
		})
	}
	_ = corev1.NodeReady
}

var coldViews atomic.Int64

// coldEnd is an ?end= no view has asked for before: a second earlier than
// the last one's, so that the range's history is all but the same.
func coldEnd() string {
	return fmt.Sprintf("&end=%d", now.Unix()-coldViews.Add(1))
}

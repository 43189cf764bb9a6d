package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/history"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
	"github.com/nodewatch/nodewatch/internal/store"
)

// The daemon's sources satisfy the dashboard's interfaces.
var (
	_ Cluster   = (*kube.Cache)(nil)
	_ Incidents = (*store.DB)(nil)
	_ Events    = (*store.DB)(nil)
	_ History   = (*history.DB)(nil)
)

// fakeCluster is an informer cache's worth of nodes, Leases and pods.
type fakeCluster struct {
	nodes  []*corev1.Node
	leases map[string]*coordinationv1.Lease
	pods   []*cluster.Pod
}

func (f *fakeCluster) Nodes() []*corev1.Node { return f.nodes }
func (f *fakeCluster) Node(name string) (*corev1.Node, bool) {
	for _, n := range f.nodes {
		if n.Name == name {
			return n, true
		}
	}
	return nil, false
}
func (f *fakeCluster) Lease(node string) (*coordinationv1.Lease, bool) {
	l, ok := f.leases[node]
	return l, ok
}
func (f *fakeCluster) Pods() []*cluster.Pod { return f.pods }
func (f *fakeCluster) PodsOn(node string) []*cluster.Pod {
	var out []*cluster.Pod
	for _, p := range f.pods {
		if p.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}
func (f *fakeCluster) Pod(ns, name string) (*cluster.Pod, bool) {
	for _, p := range f.pods {
		if p.Namespace == ns && p.Name == name {
			return p, true
		}
	}
	return nil, false
}
func (f *fakeCluster) Owners() cluster.Owners {
	o := cluster.Owners{}
	o.Add("ReplicaSet", "web", "frontend-7d9f", cluster.Owner{Kind: "Deployment", Name: "frontend"})
	return o
}

type fakeIncidents []incident.Incident

func (f fakeIncidents) Incidents() ([]incident.Incident, error) { return f, nil }

type fakeEvents []store.Event

func (f fakeEvents) Events(kind, ns, name string, since time.Time) ([]store.Event, error) {
	var out []store.Event
	for _, e := range f {
		if e.Kind == kind && e.Namespace == ns && e.Name == name && !e.Time.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// now is the fixture's clock: three hours of history end here.
var now = time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)

// xss is what an attacker would put in anything free-form.
const xss = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`

func node(name, ready string, since time.Time) *corev1.Node {
	mem := resource.MustParse("16Gi")
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceMemory: mem},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionStatus(ready), Reason: "KubeletReady",
				LastTransitionTime: metav1.NewTime(since)}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// fixture: three nodes; n2 failed 10 minutes ago with the leaking
// unanswered-emails pod (no memory limit) and a frontend pod on it.
type fixture struct {
	cluster   *fakeCluster
	incidents fakeIncidents
	events    fakeEvents
	history   *history.DB
	failure   string // the NotReady incident's ID
	// policyLists counts the listings of namespaces, LimitRanges and
	// ResourceQuotas; policyErr fails them.
	policyLists int
	policyErr   error
}

// listPolicies is kube.ListPolicies over the fixture: namespaces web and
// emails; web has a LimitRange with a default memory limit and a quota.
func (f *fixture) listPolicies(_ context.Context, ns string, s *cluster.Snapshot) error {
	f.policyLists++
	if f.policyErr != nil {
		return f.policyErr
	}
	for _, n := range []string{"emails", "web"} {
		if ns == "" || ns == n {
			s.Namespaces = append(s.Namespaces, cluster.Namespace{Name: n, Phase: "Active"})
		}
	}
	if ns == "" || ns == "web" {
		s.LimitRanges = append(s.LimitRanges, cluster.LimitRange{Namespace: "web", Name: "defaults",
			Default: cluster.Resources{Memory: ptr(int64(512 << 20))}, DefaultRequest: cluster.Resources{Memory: ptr(int64(256 << 20))}})
		s.Quotas = append(s.Quotas, cluster.ResourceQuota{Namespace: "web", Name: "memory", RequestsMemory: ptr(int64(8 << 30)), LimitsMemory: ptr(int64(16 << 30))})
	}
	s.Listed = cluster.Kinds{Namespaces: true, LimitRanges: true, ResourceQuotas: true}
	return nil
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{cluster: &fakeCluster{
		nodes: []*corev1.Node{node("n1", "True", now.Add(-24*time.Hour)), node("n2", "Unknown", now.Add(-10*time.Minute)), node("n3", "True", now.Add(-24*time.Hour))},
		leases: map[string]*coordinationv1.Lease{
			"n1": {Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: now.Add(-5 * time.Second)}}},
			"n2": {Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: now.Add(-11 * time.Minute)}}},
		},
	}}
	web := func(name, node string) *cluster.Pod {
		return &cluster.Pod{Namespace: "web", Name: name, NodeName: node, Owner: cluster.Owner{Kind: "ReplicaSet", Name: "frontend-7d9f"},
			TemplateHash: "7d9f", Phase: "Running", QOS: "Burstable", MemoryRequest: ptr(int64(256 << 20)), MemoryLimit: ptr(int64(512 << 20)),
			Containers: []cluster.Container{{Name: "web", Requests: cluster.Resources{Memory: ptr(int64(256 << 20)), MilliCPU: ptr(int64(100))},
				Limits: cluster.Resources{Memory: ptr(int64(512 << 20)), MilliCPU: ptr(int64(500))}}}}
	}
	ue := &cluster.Pod{Namespace: "emails", Name: "unanswered-emails-x7k2p", NodeName: "n2", Owner: cluster.Owner{Kind: "ReplicationController", Name: "unanswered-emails"},
		Phase: "Running", QOS: "BestEffort", Restarts: 1, Containers: []cluster.Container{{Name: "worker"}},
		Statuses: []cluster.ContainerStatus{{Name: "worker", Restarts: 1, LastTermination: &cluster.Termination{Reason: "OOMKilled", ExitCode: 137, FinishedAt: now.Add(-90 * time.Minute)}}}}
	evil := &cluster.Pod{Namespace: "web", Name: xss, NodeName: "n3", Phase: "Running", QOS: "BestEffort", Message: xss, Containers: []cluster.Container{{Name: "x"}}}
	f.cluster.pods = []*cluster.Pod{web("frontend-7d9f-a", "n1"), web("frontend-7d9f-b", "n2"), web("frontend-7d9f-c", "n3"), ue, evil}

	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f.history = db
	var samples []collect.Sample
	add := func(v float64, at time.Time, kv ...string) {
		samples = append(samples, collect.Sample{Labels: labels.FromStrings(kv...), T: at.UnixMilli(), V: v})
	}
	start := now.Add(-3 * time.Hour)
	for i := 0; i <= 180; i++ {
		at := start.Add(time.Duration(i) * time.Minute)
		if i > 170 { // n2 stopped answering ten minutes ago
			for _, n := range []string{"n1", "n3"} {
				add(1<<30, at, "__name__", "node_memory_working_set_bytes", "node", n)
			}
			continue
		}
		for _, n := range []string{"n1", "n2", "n3"} {
			add(1<<30, at, "__name__", "node_memory_working_set_bytes", "node", n)
			faults := float64(i * 10)
			if n == "n2" && i > 150 {
				faults += float64((i - 150) * (i - 150) * 600) // thrashing before the failure
			}
			add(faults, at, "__name__", "container_memory_failures_total", "failure_type", "pgmajfault", "id", "/", "scope", "hierarchy", "node", n)
		}
		for _, p := range []struct{ pod, node string }{{"frontend-7d9f-a", "n1"}, {"frontend-7d9f-b", "n2"}, {"frontend-7d9f-c", "n3"}} {
			add(200<<20, at, "__name__", "container_memory_working_set_bytes", "namespace", "web", "pod", p.pod, "container", "web", "node", p.node,
				"workload_kind", "Deployment", "workload", "frontend")
			add(float64(i)*6, at, "__name__", "container_cpu_usage_seconds_total", "namespace", "web", "pod", p.pod, "container", "web", "node", p.node)
		}
		// 1 MiB a minute from 100 MiB: 60 MiB/h.
		add(float64(100<<20+i<<20), at, "__name__", "container_memory_working_set_bytes", "namespace", "emails", "pod", "unanswered-emails-x7k2p",
			"container", "worker", "node", "n2", "workload_kind", "ReplicationController", "workload", "unanswered-emails")
		add(float64(i)*30, at, "__name__", "container_cpu_usage_seconds_total", "namespace", "emails", "pod", "unanswered-emails-x7k2p", "container", "worker", "node", "n2")
	}
	if _, err := db.Append(context.Background(), samples); err != nil {
		t.Fatal(err)
	}

	failed := now.Add(-10 * time.Minute)
	f.failure = "n2-notready-1"
	report := func(p *cluster.Pod, owner cluster.Owner) health.PodReport {
		return health.PodReport{Namespace: p.Namespace, Name: p.Name, Owner: owner, Phase: p.Phase, QOS: p.QOS, MemoryRequest: p.MemoryRequest, MemoryLimit: p.MemoryLimit}
	}
	f.incidents = fakeIncidents{
		{ID: "n2-lease-1", Key: "node/n2/lease", Rule: detect.NodeLeaseStale, Severity: "warning", Status: incident.Resolved, Start: failed.Add(-20 * time.Second),
			End: ptr(failed), Node: "n2", Notifications: []incident.Notification{}},
		{ID: f.failure, Key: "node/n2", Rule: detect.NodeNotReady, Severity: "critical", Status: incident.Open, Start: failed, Since: failed.Add(-5 * time.Second),
			Node: "n2", Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
			Pods:          []health.PodReport{report(ue, cluster.Owner{Kind: "ReplicationController", Name: "unanswered-emails"}), report(f.cluster.pods[1], cluster.Owner{Kind: "Deployment", Name: "frontend"})},
			Events:        []incident.Event{{Time: failed.Add(-time.Minute), Type: "Warning", Reason: "SystemOOM", Message: xss}},
			Notifications: []incident.Notification{{Key: "k1", Rule: detect.NodeNotReady, Status: "firing", At: failed}}},
	}
	f.events = fakeEvents{
		{UID: "e1", Kind: "Node", Name: "n2", Time: failed.Add(-time.Minute), Type: "Warning", Reason: "SystemOOM", Message: xss},
		{UID: "e2", Kind: "Pod", Namespace: "emails", Name: "unanswered-emails-x7k2p", Time: now.Add(-90 * time.Minute), Type: "Warning", Reason: "OOMKilling", Message: "Memory cgroup out of memory"},
	}
	return f
}

func (f *fixture) handler(t testing.TB) http.Handler {
	t.Helper()
	h, err := Handler(Options{Cluster: f.cluster, Incidents: f.incidents, Events: f.events, History: f.history, Now: func() time.Time { return now },
		Policies: f.listPolicies, RecommendWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get fetches path and decodes the JSON answer into v.
func get(t *testing.T, h http.Handler, path string, v any) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if v != nil {
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, rec.Body)
		}
	}
	return rec
}

func mustf(t *testing.T, ok bool, format string, a ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, a...)
	}
}

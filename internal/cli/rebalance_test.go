package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nodewatch/nodewatch/internal/analyze/rebalance"
	"github.com/nodewatch/nodewatch/internal/golden"
)

// usageAPI answers the usage query with fixed per-pod values, and records
// the queries it was sent.
type usageAPI struct {
	promv1.API
	usage   map[string]float64 // namespace/pod → bytes
	queries []string
}

func (u *usageAPI) Query(_ context.Context, q string, ts time.Time, _ ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error) {
	u.queries = append(u.queries, q)
	var v model.Vector
	for k, b := range u.usage {
		ns, pod, _ := strings.Cut(k, "/")
		v = append(v, &model.Sample{Metric: model.Metric{"namespace": model.LabelValue(ns), "pod": model.LabelValue(pod)}, Value: model.SampleValue(b), Timestamp: model.TimeFromUnixNano(ts.UnixNano())})
	}
	return v, nil, nil, nil
}

// rebalanceCluster: two full nodes (old-0, old-1), two empty ones that
// just joined (new-0, new-1); Deployments api (3 GiB used each, 1 GiB
// requested), cache (2 GiB requested, no history) and db (under a PDB
// allowing no disruption), a DaemonSet's pod on every node and CoreDNS in
// kube-system.
func rebalanceCluster() []runtime.Object {
	var objs []runtime.Object
	for _, n := range []string{"old-0", "old-1", "new-0", "new-1"} {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"kubernetes.io/hostname": n}},
			Status: corev1.NodeStatus{Allocatable: quantities("memory", "16Gi", "cpu", "8"),
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "exporter-" + n, UID: types.UID("exporter-" + n),
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "exporter", Controller: ptr(true), APIVersion: "apps/v1"}}},
			Spec:   corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "exporter", Resources: corev1.ResourceRequirements{Requests: quantities("memory", "64Mi")}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	deploy := func(ns, name, req string, nodes ...string) {
		rs := name + "-6b7c8d9f"
		objs = append(objs, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rs, UID: types.UID(rs),
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: name, Controller: ptr(true), APIVersion: "apps/v1"}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(len(nodes))), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}}}) //nolint:gosec // G115: a handful of nodes
		for i, n := range nodes {
			objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%c%c%c%c%c", rs, 'a'+i, 'b', 'c', 'd', 'e'),
				UID: types.UID(fmt.Sprintf("%s-%d", name, i)), Labels: map[string]string{"app": name, "pod-template-hash": "6b7c8d9f"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs, UID: types.UID(rs), Controller: ptr(true), APIVersion: "apps/v1"}}},
				Spec:   corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: name, Resources: corev1.ResourceRequirements{Requests: quantities("memory", req, "cpu", "100m")}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
		}
	}
	deploy("web", "api", "1Gi", "old-0", "old-1", "old-0", "old-1")
	deploy("web", "cache", "2Gi", "old-0", "old-1")
	deploy("shop", "db", "2Gi", "old-0", "old-1")
	deploy("kube-system", "coredns", "2Gi", "old-0", "old-1")
	objs = append(objs, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"},
		Spec:   policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}})
	return objs
}

func rebalanceUsage() *usageAPI {
	u := &usageAPI{usage: map[string]float64{}}
	for i := range 4 {
		u.usage[fmt.Sprintf("web/api-6b7c8d9f-%cbcde", 'a'+i)] = 3 << 30
	}
	u.usage["shop/db-6b7c8d9f-abcde"], u.usage["shop/db-6b7c8d9f-bbcde"] = 1<<30, 1<<30
	return u
}

func runRebalanceWith(t *testing.T, client kubernetes.Interface, a promv1.API, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{Streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, now: func() time.Time { return fixedNow }}
	root := newRoot(g)
	for _, c := range root.Commands() {
		if c.Name() == "rebalance" {
			root.RemoveCommand(c)
		}
	}
	cmd := rebalanceCommand(g, func(string) (kubernetes.Interface, promv1.API, error) { return client, a, nil })
	root.AddCommand(cmd)
	root.SetArgs(append([]string{"rebalance", "--nodewatch-url", "http://nodewatch.test:8080"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	code = exitCode(root.ExecuteContext(context.Background()), &errb)
	return out.String(), errb.String(), code
}

func TestRebalanceGolden(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			u := rebalanceUsage()
			out, errOut, code := runRebalanceWith(t, fake.NewClientset(rebalanceCluster()...), u, "-o", format)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden.Assert(t, "rebalance."+format, []byte(out))
			if len(u.queries) != 1 || !strings.Contains(u.queries[0], "max_over_time(container_memory_working_set_bytes") || !strings.Contains(u.queries[0], "[3600s]") {
				t.Errorf("queries %q, want the peak working set over the last hour", u.queries)
			}
		})
	}
}

func rebalanceJSON(t *testing.T, client kubernetes.Interface, args ...string) (RebalanceReport, string, int) {
	t.Helper()
	out, errOut, code := runRebalanceWith(t, client, rebalanceUsage(), append([]string{"-o", "json"}, args...)...)
	var r RebalanceReport
	if code != ExitError {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	return r, errOut, code
}

// TestRebalancePlan reads the JSON plan as a script would.
func TestRebalancePlan(t *testing.T) {
	r, errOut, code := rebalanceJSON(t, fake.NewClientset(rebalanceCluster()...))
	if code != ExitOK || !r.DryRun {
		t.Fatalf("exit %d, dry run %v: %s", code, r.DryRun, errOut)
	}
	onto := map[string]int{}
	for _, m := range r.Moves {
		onto[m.To]++
		switch {
		case m.Namespace != "web":
			t.Errorf("moved %s/%s: only web's Deployments may move (db is under a PDB allowing none, kube-system not asked for, exporter a DaemonSet)", m.Namespace, m.Pod)
		case !strings.HasPrefix(m.From, "old-") || !strings.HasPrefix(m.To, "new-"):
			t.Errorf("move %s %s → %s, want from an old node onto a new one", m.Pod, m.From, m.To)
		}
	}
	if onto["new-0"] == 0 || onto["new-1"] == 0 || r.SpreadAfter >= r.SpreadBefore {
		t.Errorf("moves onto %v, spread %.2f → %.2f: want both new nodes used and the spread narrowed", onto, r.SpreadBefore, r.SpreadAfter)
	}
	held := map[string]string{}
	for _, h := range r.Held {
		held[h.Namespace+"/"+h.Workload.Name] = h.Reason
	}
	if !strings.Contains(held["shop/db"], "PodDisruptionBudget db allows 0") || held["monitoring/exporter"] != rebalance.HeldDaemonSet {
		t.Errorf("held %v, want db (PDB) and exporter (DaemonSet)", held)
	}
	// -n kube-system asks for CoreDNS to move too.
	r, _, _ = rebalanceJSON(t, fake.NewClientset(rebalanceCluster()...), "-n", "kube-system")
	if len(r.Moves) == 0 || r.Moves[0].Workload.Name != "coredns" {
		t.Errorf("-n kube-system: %+v, want coredns moved", r.Moves)
	}
	// --apply without --yes explains itself and evicts nothing.
	client := fake.NewClientset(rebalanceCluster()...)
	if _, errOut, code := rebalanceJSON(t, client, "--apply"); code != ExitError || !strings.Contains(errOut, "add --yes") {
		t.Errorf("--apply alone: exit %d %s", code, errOut)
	}
	if _, errOut, code := rebalanceJSON(t, client, "--dry-run=false"); code != ExitError || !strings.Contains(errOut, "use --apply --yes") {
		t.Errorf("--dry-run=false alone: exit %d %s", code, errOut)
	}
	for _, a := range client.Actions() {
		if a.GetSubresource() == "eviction" {
			t.Errorf("--apply without --yes evicted: %v", a)
		}
	}
}

// TestRebalancePlacement: the plan reads the pods' required node affinity
// and tolerations and the nodes' labels and taints from the cluster. new-0
// is tainted dedicated=api:NoSchedule: only api tolerates it, and api's
// required affinity keeps it off new-1; so api may only go to new-0 and
// cache only to new-1.
func TestRebalancePlacement(t *testing.T) {
	objs := rebalanceCluster()
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Node:
			if o.Name == "new-0" {
				o.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "api", Effect: corev1.TaintEffectNoSchedule}}
			}
		case *corev1.Pod:
			if o.Labels["app"] == "api" {
				o.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"new-1"}}}}}}}}
				o.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
			}
		}
	}
	r, errOut, code := rebalanceJSON(t, fake.NewClientset(objs...))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := map[string]string{"api": "new-0", "cache": "new-1"}
	seen := map[string]bool{}
	for _, m := range r.Moves {
		seen[m.Workload.Name] = true
		if to := want[m.Workload.Name]; m.To != to {
			t.Errorf("%s → %s, want only %s", m.Pod, m.To, to)
		}
	}
	if !seen["api"] || !seen["cache"] {
		t.Errorf("moves %+v: want api onto new-0 and cache onto new-1", r.Moves)
	}
	if slices.ContainsFunc(r.Assumptions, func(s string) bool { return strings.Contains(s, "were not read") }) {
		t.Errorf("assumptions %q: the placement information was read", r.Assumptions)
	}
}

// TestRebalanceApply: --apply --yes evicts through the Eviction API one
// pod at a time, waiting for the ReplicaSet to be whole again (the fake's
// "controller" re-creates the pod on new-0 at once); a 429 from a PDB
// skips the move and exits 1.
func TestRebalanceApply(t *testing.T) {
	client := fake.NewClientset(rebalanceCluster()...)
	podsGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	var evicted []string
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		e := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		if strings.HasPrefix(e.Name, "cache-") {
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
		}
		obj, err := client.Tracker().Get(podsGVR, e.Namespace, e.Name)
		if err != nil {
			return true, nil, err
		}
		old := obj.(*corev1.Pod)
		if err := client.Tracker().Delete(podsGVR, e.Namespace, e.Name); err != nil {
			return true, nil, err
		}
		evicted = append(evicted, e.Name)
		repl := old.DeepCopy()
		repl.Name, repl.UID, repl.Spec.NodeName = old.Name+"-new", old.UID+"-new", "new-0"
		return true, nil, client.Tracker().Add(repl)
	})
	var out, errb bytes.Buffer
	g := &globals{Streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, now: func() time.Time { return fixedNow }}
	root := newRoot(g)
	cmd := rebalanceCommand(g, func(string) (kubernetes.Interface, promv1.API, error) { return client, rebalanceUsage(), nil })
	for _, c := range root.Commands() {
		if c.Name() == "rebalance" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(cmd)
	root.SetArgs([]string{"rebalance", "-o", "json", "--apply", "--yes", "--wait-timeout", "5s"})
	err := root.ExecuteContext(context.Background())
	var r RebalanceReport
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("%v: %s %s", jerr, out.String(), errb.String())
	}
	results := map[string]string{}
	for _, e := range r.Applied {
		results[e.Pod] = e.Result
	}
	skippedCache := false
	for _, m := range r.Moves {
		want := EvictionDone
		if strings.HasPrefix(m.Pod, "cache-") {
			want, skippedCache = EvictionSkipped, true
		}
		if results[m.Pod] != want {
			t.Errorf("%s: %q, want %s\n%s", m.Pod, results[m.Pod], want, errb.String())
		}
	}
	if len(r.Applied) != len(r.Moves) || len(evicted) == 0 || r.DryRun {
		t.Errorf("applied %d of %d moves (evicted %v)", len(r.Applied), len(r.Moves), evicted)
	}
	if skippedCache != errors.Is(err, errFindings) {
		t.Errorf("a move refused by a PDB: %v, error %v; want exit 1 exactly when one was", skippedCache, err)
	}
	if !strings.Contains(errb.String(), "back at its desired replicas") && !strings.Contains(errb.String(), "evicted web/api") {
		t.Errorf("progress on stderr: %s", errb.String())
	}
}

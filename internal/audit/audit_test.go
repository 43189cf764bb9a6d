package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// Builders of literal Kubernetes objects, converted the way every source
// converts them.

func list(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = apiresource.MustParse(kv[i+1]) //nolint:gosec // G602: kv holds name, value pairs
	}
	return l
}

func ctr(name string, req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func sidecar(c corev1.Container) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

type podOpt func(*corev1.Pod)

func on(node string) podOpt              { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
func phase(ph string) podOpt             { return func(p *corev1.Pod) { p.Status.Phase = corev1.PodPhase(ph) } }
func inits(c ...corev1.Container) podOpt { return func(p *corev1.Pod) { p.Spec.InitContainers = c } }

// pod is a pod of the workload kind/name ("" kind: a bare pod); a
// Deployment's pods are named and labelled as its ReplicaSet names them.
func pod(ns, name, kind, owner string, cs []corev1.Container, opts ...podOpt) cluster.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	p.Spec.Containers = cs
	p.Status.Phase = corev1.PodRunning
	yes := true
	switch kind {
	case "":
	case "Deployment":
		p.Labels = map[string]string{"pod-template-hash": "5f7c9"}
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner + "-5f7c9", Controller: &yes}}
	default:
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: owner, Controller: &yes}}
	}
	for _, o := range opts {
		o(p)
	}
	return cluster.PodFrom(p)
}

func node(name, mem string) cluster.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Allocatable = list("memory", mem)
	return cluster.NodeFrom(n)
}

func limitRange(ns, name string, item corev1.LimitRangeItem) cluster.LimitRange {
	item.Type = corev1.LimitTypeContainer
	return cluster.LimitRangeFrom(&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}}})
}

func quota(ns, name string, hard corev1.ResourceList) cluster.ResourceQuota {
	return cluster.ResourceQuotaFrom(&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}})
}

// snap is a snapshot whose namespaces, LimitRanges and quotas were read.
func snap(nodes []cluster.Node, pods ...cluster.Pod) *cluster.Snapshot {
	s := cluster.NewSnapshot()
	s.Nodes, s.Pods = nodes, pods
	s.Listed = cluster.Kinds{Namespaces: true, LimitRanges: true, ResourceQuotas: true}
	return s
}

// full declares everything the audit asks of a container.
func full(name string) corev1.Container {
	return ctr(name, list("cpu", "100m", "memory", "128Mi"), list("memory", "256Mi"))
}

func none(name string) corev1.Container { return ctr(name, nil, nil) }

// find returns the findings of check about object (as Finding.Object names it).
func find(r *Report, check, object string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == check && f.Object() == object {
			out = append(out, f)
		}
	}
	return out
}

func one(t *testing.T, r *Report, check, object string) Finding {
	t.Helper()
	fs := find(r, check, object)
	if len(fs) != 1 {
		t.Fatalf("%d %s findings about %s, want 1; all findings:\n%s", len(fs), check, object, dumpFindings(r))
	}
	return fs[0]
}

func no(t *testing.T, r *Report, check, object string) {
	t.Helper()
	if fs := find(r, check, object); len(fs) > 0 {
		t.Errorf("unexpected %s about %s: %+v", check, object, fs[0])
	}
}

func dumpFindings(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", f.Severity, f.Check, f.Object(), f.Message)
	}
	return b.String()
}

func withPolicies(s *cluster.Snapshot, lrs []cluster.LimitRange, qs ...cluster.ResourceQuota) *cluster.Snapshot {
	s.LimitRanges, s.Quotas = lrs, qs
	return s
}

func TestLimitRangeDefaults(t *testing.T) {
	nodes := []cluster.Node{node("n1", "16Gi")}
	jvm := func(name string) cluster.Pod {
		return pod("batch", name, "Deployment", "jvm", []corev1.Container{ctr("jvm", list("cpu", "1"), nil)}, on("n1"))
	}

	t.Run("a default limit means no missing limit", func(t *testing.T) {
		s := withPolicies(snap(nodes, jvm("jvm-5f7c9-a"), jvm("jvm-5f7c9-b")),
			[]cluster.LimitRange{limitRange("batch", "mem", corev1.LimitRangeItem{Default: list("memory", "1Gi")})})
		r := Run(s, Options{}, now)
		no(t, r, MissingMemoryLimit, "batch/Deployment/jvm")
		no(t, r, MissingMemoryRequest, "batch/Deployment/jvm") // the default request is the default limit
		no(t, r, NoLimitRange, "namespace/batch")
		f := one(t, r, LimitRangeDefaultNotApplied, "batch/Deployment/jvm")
		if f.Severity != Info || f.Pods != 2 || !strings.Contains(f.Message, "memory limit 1Gi (LimitRange mem)") ||
			!strings.Contains(f.Message, "memory request 1Gi") || f.Fix != "kubectl rollout restart deployment/jvm -n batch" {
			t.Errorf("pending default: %+v", f)
		}
		// The running pods really are unbounded: the node says so, and why.
		u := one(t, r, UnboundedTogether, "node/n1")
		if !strings.Contains(u.Detail, "LimitRange default applies once it is re-created") ||
			u.Fix != "re-create the pods of batch/Deployment/jvm to apply their LimitRange default (their own findings say how)" {
			t.Errorf("unbounded finding does not mention the pending default: %+v", u)
		}
	})

	t.Run("a max alone defaults the limit, as the API server does", func(t *testing.T) {
		s := withPolicies(snap(nodes, jvm("jvm-5f7c9-a")),
			[]cluster.LimitRange{limitRange("batch", "max", corev1.LimitRangeItem{Max: list("memory", "2Gi")})})
		r := Run(s, Options{}, now)
		no(t, r, MissingMemoryLimit, "batch/Deployment/jvm")
		one(t, r, LimitRangeDefaultNotApplied, "batch/Deployment/jvm")
	})

	t.Run("pods created after the LimitRange carry its default", func(t *testing.T) {
		admitted := pod("batch", "jvm-5f7c9-a", "Deployment", "jvm",
			[]corev1.Container{ctr("jvm", list("cpu", "1", "memory", "1Gi"), list("memory", "1Gi"))}, on("n1"))
		s := withPolicies(snap(nodes, admitted),
			[]cluster.LimitRange{limitRange("batch", "mem", corev1.LimitRangeItem{Default: list("memory", "1Gi")})},
			quota("batch", "q", list("requests.memory", "10Gi")))
		if r := Run(s, Options{}, now); len(r.Findings) != 0 {
			t.Errorf("want no findings:\n%s", dumpFindings(r))
		}
	})

	t.Run("a CPU-only LimitRange does not cover memory, and says so", func(t *testing.T) {
		s := withPolicies(snap(nodes, jvm("jvm-5f7c9-a")),
			[]cluster.LimitRange{limitRange("batch", "cpu", corev1.LimitRangeItem{Default: list("cpu", "1")})})
		r := Run(s, Options{}, now)
		f := one(t, r, MissingMemoryLimit, "batch/Deployment/jvm")
		if !strings.Contains(f.Detail, "LimitRange cpu sets no default memory limit") {
			t.Errorf("detail %q does not say the LimitRange sets no memory default", f.Detail)
		}
		n := one(t, r, NoLimitRange, "namespace/batch")
		if n.Severity != Warning || !strings.Contains(n.Message, "(cpu) sets a default memory limit") {
			t.Errorf("namespace finding %+v", n)
		}
	})

	t.Run("unread LimitRanges: limits are missing, and the report says what was not checked", func(t *testing.T) {
		s := snap(nodes, jvm("jvm-5f7c9-a"))
		s.Listed.LimitRanges = false
		r := Run(s, Options{}, now)
		f := one(t, r, MissingMemoryLimit, "batch/Deployment/jvm")
		if strings.Contains(f.Detail, "LimitRange") {
			t.Errorf("detail speaks of LimitRanges it never read: %q", f.Detail)
		}
		no(t, r, NoLimitRange, "namespace/batch")
		if !slices.ContainsFunc(r.Skipped, func(s string) bool { return strings.HasPrefix(s, "LimitRanges were not read") }) {
			t.Errorf("skipped %q", r.Skipped)
		}
	})

	t.Run("static pods are not reached by LimitRanges", func(t *testing.T) {
		etcd := pod("kube-system", "etcd-n1", "Node", "n1", []corev1.Container{ctr("etcd", list("memory", "1Gi"), nil)}, on("n1"))
		s := withPolicies(snap(nodes, etcd),
			[]cluster.LimitRange{limitRange("kube-system", "mem", corev1.LimitRangeItem{Default: list("memory", "1Gi")})})
		r := Run(s, Options{}, now)
		f := one(t, r, MissingMemoryLimit, "kube-system/Node/n1")
		if !strings.Contains(f.Fix, "static pod") || !strings.Contains(f.Fix, "--limits=memory=1Gi") {
			t.Errorf("fix %q", f.Fix)
		}
	})
}

func TestContainers(t *testing.T) {
	nodes := []cluster.Node{node("n1", "16Gi")}

	t.Run("sidecar without a limit", func(t *testing.T) {
		p := pod("emails", "mailer-5f7c9-a", "Deployment", "mailer", []corev1.Container{full("mailer")},
			inits(sidecar(ctr("shipper", list("memory", "32Mi"), nil))), on("n1"))
		r := Run(snap(nodes, p), Options{}, now)
		f := one(t, r, MissingMemoryLimit, "emails/Deployment/mailer")
		if len(f.Containers) != 1 || f.Containers[0] != (ContainerRef{Name: "shipper", Type: "sidecar"}) {
			t.Errorf("containers %+v", f.Containers)
		}
		// Sized from the container's own request, and aimed at it alone.
		if f.Fix != "kubectl set resources deployment/mailer -n emails -c shipper --limits=memory=32Mi" {
			t.Errorf("fix %q", f.Fix)
		}
		one(t, r, MissingCPURequest, "emails/Deployment/mailer")
		no(t, r, MissingMemoryRequest, "emails/Deployment/mailer")
		no(t, r, BestEffort, "emails/Deployment/mailer")
	})

	t.Run("init container without anything", func(t *testing.T) {
		p := pod("emails", "mailer-5f7c9-a", "Deployment", "mailer", []corev1.Container{full("mailer")}, inits(none("migrate")), on("n1"))
		r := Run(snap(nodes, p), Options{}, now)
		for _, check := range []string{MissingMemoryLimit, MissingMemoryRequest, MissingCPURequest} {
			f := one(t, r, check, "emails/Deployment/mailer")
			if len(f.Containers) != 1 || f.Containers[0].Type != "init" || !strings.Contains(f.Message, "migrate (init)") {
				t.Errorf("%s: %+v", check, f)
			}
		}
	})

	t.Run("a limit alone: the request defaults to it", func(t *testing.T) {
		p := pod("web", "w", "", "", []corev1.Container{ctr("w", nil, list("cpu", "1", "memory", "1Gi"))}, on("n1"))
		r := Run(snap(nodes, p), Options{}, now)
		no(t, r, MissingMemoryRequest, "web/Pod/w")
		no(t, r, MissingCPURequest, "web/Pod/w")
		no(t, r, MissingMemoryLimit, "web/Pod/w")
	})

	t.Run("findings are per workload, counting its pods", func(t *testing.T) {
		var pods []cluster.Pod
		for _, s := range []string{"a", "b", "c"} {
			pods = append(pods, pod("web", "api-5f7c9-"+s, "Deployment", "api", []corev1.Container{ctr("api", list("cpu", "1", "memory", "1Gi"), nil)}, on("n1")))
		}
		// One pod of a newer template has its limit: a rollout half done.
		pods[2] = pod("web", "api-5f7c9-c", "Deployment", "api", []corev1.Container{full("api")}, on("n1"))
		r := Run(snap(nodes, pods...), Options{}, now)
		f := one(t, r, MissingMemoryLimit, "web/Deployment/api")
		if f.Pods != 2 || f.PodsTotal != 3 || !strings.Contains(f.Message, "(2 of 3 pods)") {
			t.Errorf("pods %d of %d, message %q", f.Pods, f.PodsTotal, f.Message)
		}
		if r.Workloads != 1 || r.Pods != 3 {
			t.Errorf("workloads %d pods %d", r.Workloads, r.Pods)
		}
	})
}

func TestBestEffort(t *testing.T) {
	nodes := []cluster.Node{node("n1", "16Gi")}
	jvm := pod("emails", "unanswered-emails-x7k2p", "ReplicationController", "unanswered-emails", []corev1.Container{none("jvm"), none("agent")}, on("n1"))
	if jvm.QOS != "BestEffort" {
		t.Fatalf("test pod's QoS %s", jvm.QOS)
	}
	r := Run(snap(nodes, jvm), Options{}, now)
	f := one(t, r, BestEffort, "emails/ReplicationController/unanswered-emails")
	if f.Severity != Warning || !strings.HasPrefix(f.Fix, "kubectl set resources replicationcontroller/unanswered-emails -n emails --requests=") ||
		strings.Contains(f.Fix, " -c ") || !strings.Contains(f.Fix, "delete its pods") {
		t.Errorf("BestEffort finding %+v", f)
	}
	// BestEffort says it all: no finding per container on top.
	for _, c := range []string{MissingMemoryLimit, MissingMemoryRequest, MissingCPURequest} {
		no(t, r, c, "emails/ReplicationController/unanswered-emails")
	}

	// With a LimitRange default, new pods would not be BestEffort.
	s := withPolicies(snap(nodes, jvm), []cluster.LimitRange{limitRange("emails", "d", corev1.LimitRangeItem{
		Default: list("memory", "1Gi"), DefaultRequest: list("memory", "512Mi", "cpu", "100m")})})
	r = Run(s, Options{}, now)
	no(t, r, BestEffort, "emails/ReplicationController/unanswered-emails")
	f = one(t, r, LimitRangeDefaultNotApplied, "emails/ReplicationController/unanswered-emails")
	if !strings.Contains(f.Message, "memory request 512Mi") || !strings.Contains(f.Message, "CPU request 100m") {
		t.Errorf("pending %q", f.Message)
	}
}

func TestNodes(t *testing.T) {
	mk := func(name, req, lim string, opts ...podOpt) cluster.Pod {
		var r, l corev1.ResourceList
		if req != "" {
			r = list("memory", req)
		}
		if lim != "" {
			l = list("memory", lim)
		}
		return pod("apps", name, "StatefulSet", name, []corev1.Container{ctr("c", r, l)}, append([]podOpt{on("n1")}, opts...)...)
	}
	cases := []struct {
		name  string
		pods  []cluster.Pod
		want  []string // checks on node n1
		check func(t *testing.T, f []Finding)
	}{
		{"fits", []cluster.Pod{mk("a", "1Gi", "2Gi"), mk("b", "1Gi", "2Gi")}, nil, nil},
		{"limits overcommitted", []cluster.Pod{mk("a", "1Gi", "3Gi"), mk("b", "1Gi", "2Gi")}, []string{LimitsOvercommitted}, func(t *testing.T, f []Finding) {
			m := f[0].Memory
			if f[0].Severity != Warning || m.Limits != 5<<30 || m.Requests != 2<<30 || m.Allocatable != 4<<30 || !strings.Contains(f[0].Message, "125% of allocatable 4Gi") {
				t.Errorf("%+v %+v", f[0], m)
			}
			if !strings.Contains(f[0].Fix, "apps/a 3Gi, apps/b 2Gi") {
				t.Errorf("fix %q", f[0].Fix)
			}
		}},
		{"requests overcommitted", []cluster.Pod{mk("a", "3Gi", "3Gi"), mk("b", "2Gi", "")}, []string{RequestsOvercommitted}, func(t *testing.T, f []Finding) {
			// b has no limit: the bounded limits (3Gi) fit, the requests (5Gi) do not.
			m := f[0].Memory
			if f[0].Severity != Critical || m.Requests != 5<<30 || m.Limits != 3<<30 || len(m.Unbounded) != 1 || !strings.Contains(f[0].Fix, "kubectl cordon n1") {
				t.Errorf("%+v %+v", f[0], m)
			}
		}},
		{"two unbounded pods together", []cluster.Pod{mk("a", "", ""), mk("b", "100Mi", ""), mk("c", "1Gi", "1Gi")}, []string{UnboundedTogether}, func(t *testing.T, f []Finding) {
			u := f[0].Memory.Unbounded
			if f[0].Severity != Critical || len(u) != 2 || u[0].Name != "a" || u[1].Name != "b" || u[0].Workload != (cluster.Owner{Kind: "StatefulSet", Name: "a"}) {
				t.Errorf("%+v", f[0])
			}
			if f[0].Fix != "give memory limits to apps/StatefulSet/a, apps/StatefulSet/b (their own findings say how)" {
				t.Errorf("fix %q", f[0].Fix)
			}
		}},
		{"one unbounded pod alone", []cluster.Pod{mk("a", "", ""), mk("c", "1Gi", "1Gi")}, nil, nil},
		{"finished and elsewhere pods do not count", []cluster.Pod{mk("a", "", ""), mk("b", "3Gi", "", phase("Succeeded")), mk("c", "3Gi", "", on("n2")), mk("d", "3Gi", "")},
			[]string{UnboundedTogether}, nil},
		{"a sidecar without a limit leaves the pod unbounded; an init container does not",
			[]cluster.Pod{
				pod("apps", "s", "", "", []corev1.Container{full("app")}, inits(sidecar(none("side"))), on("n1")),
				pod("apps", "i", "", "", []corev1.Container{full("app")}, inits(none("init")), on("n1")),
				mk("a", "", ""),
			}, []string{UnboundedTogether}, func(t *testing.T, f []Finding) {
				u := f[0].Memory.Unbounded
				if len(u) != 2 || u[0].Name != "s" || u[1].Name != "a" {
					t.Errorf("unbounded %+v, want s and a", u)
				}
			}},
		{"a large init container's request counts", []cluster.Pod{
			pod("apps", "i", "", "", []corev1.Container{full("app")}, inits(ctr("init", list("memory", "5Gi"), list("memory", "5Gi"))), on("n1")),
		}, []string{RequestsOvercommitted}, func(t *testing.T, f []Finding) {
			if f[0].Memory.Requests != 5<<30 || f[0].Memory.Limits != 256<<20 {
				t.Errorf("memory %+v", f[0].Memory)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(snap([]cluster.Node{node("n1", "4Gi"), node("n2", "64Gi")}, tc.pods...), Options{}, now)
			var got []string
			var fs []Finding
			for _, f := range r.Findings {
				if f.Node == "n1" {
					got = append(got, f.Check)
					fs = append(fs, f)
				}
				if f.Node == "n2" {
					t.Errorf("finding on n2: %+v", f)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("checks on n1 %v, want %v:\n%s", got, tc.want, dumpFindings(r))
			}
			if tc.check != nil {
				tc.check(t, fs)
			}
		})
	}
}

func TestNamespaces(t *testing.T) {
	nodes := []cluster.Node{node("n1", "64Gi")}
	s := snap(nodes,
		pod("emails", "e", "", "", []corev1.Container{ctr("e", list("cpu", "1", "memory", "1Gi"), nil)}, on("n1")),
		pod("web", "w", "", "", []corev1.Container{full("w")}, on("n1")),
		pod("covered", "c", "", "", []corev1.Container{full("c")}, on("n1")),
		pod("leaving", "l", "", "", []corev1.Container{none("l")}, on("n1")),
	)
	s.Namespaces = []cluster.Namespace{{Name: "emails", Phase: "Active"}, {Name: "web", Phase: "Active"}, {Name: "covered", Phase: "Active"},
		{Name: "empty", Phase: "Active"}, {Name: "leaving", Phase: "Terminating"}}
	s.LimitRanges = []cluster.LimitRange{limitRange("covered", "d", corev1.LimitRangeItem{Default: list("memory", "1Gi")})}
	s.Quotas = []cluster.ResourceQuota{quota("covered", "mem", list("limits.memory", "8Gi")), quota("web", "objects", list("pods", "10"))}
	r := Run(s, Options{}, now)

	if f := one(t, r, NoLimitRange, "namespace/emails"); f.Severity != Warning || !strings.Contains(f.Detail, "1 workload has such containers") {
		t.Errorf("emails: %+v", f)
	}
	if f := one(t, r, NoLimitRange, "namespace/web"); f.Severity != Info {
		t.Errorf("web runs nothing unbounded, so its missing LimitRange is info: %+v", f)
	}
	if f := one(t, r, NoResourceQuota, "namespace/web"); !strings.Contains(f.Message, "no ResourceQuota in namespace web (objects) bounds memory") {
		t.Errorf("web quota: %+v", f)
	}
	if f := one(t, r, NoResourceQuota, "namespace/emails"); f.Severity != Info || !strings.Contains(f.Fix, "kubectl create quota mem -n emails") {
		t.Errorf("emails quota: %+v", f)
	}
	for _, ns := range []string{"covered", "empty", "leaving"} {
		no(t, r, NoLimitRange, "namespace/"+ns)
		no(t, r, NoResourceQuota, "namespace/"+ns)
	}
	if r.Namespaces != 5 {
		t.Errorf("namespaces %d, want 5", r.Namespaces)
	}

	// Quotas not read: no quota findings, and the report says so.
	s.Listed.ResourceQuotas = false
	r = Run(s, Options{}, now)
	no(t, r, NoResourceQuota, "namespace/emails")
	one(t, r, NoLimitRange, "namespace/emails")
	if !slices.ContainsFunc(r.Skipped, func(s string) bool { return strings.HasPrefix(s, "ResourceQuotas were not read") }) {
		t.Errorf("skipped %q", r.Skipped)
	}
}

func TestNamespaceScope(t *testing.T) {
	nodes := []cluster.Node{node("n1", "1Gi")}
	s := snap(nodes,
		pod("a", "x", "", "", []corev1.Container{none("x")}, on("n1")),
		pod("b", "y", "", "", []corev1.Container{none("y")}, on("n1")),
	)
	r := Run(s, Options{Namespace: "a"}, now)
	for _, f := range r.Findings {
		if f.Namespace != "a" {
			t.Errorf("finding outside namespace a: %+v", f)
		}
	}
	one(t, r, BestEffort, "a/Pod/x")
	if r.Pods != 1 || r.Namespace != "a" || !slices.ContainsFunc(r.Skipped, func(s string) bool { return strings.HasPrefix(s, "node overcommit") }) {
		t.Errorf("pods %d namespace %q skipped %q", r.Pods, r.Namespace, r.Skipped)
	}
	// All namespaces: the two unbounded pods meet on n1.
	one(t, Run(s, Options{}, now), UnboundedTogether, "node/n1")
}

func TestFixes(t *testing.T) {
	nodes := []cluster.Node{node("n1", "64Gi")}
	noLimit := []corev1.Container{ctr("c", list("cpu", "1", "memory", "1Gi"), nil)}
	// The pod's only container: no -c needed.
	cases := []struct {
		kind, fix string
	}{
		{"Deployment", "kubectl set resources deployment/w -n ns --limits=memory=1Gi"},
		{"StatefulSet", "kubectl set resources statefulset/w -n ns --limits=memory=1Gi"},
		{"DaemonSet", "kubectl set resources daemonset/w -n ns --limits=memory=1Gi"},
		{"CronJob", "kubectl set resources cronjob/w -n ns --limits=memory=1Gi"},
		{"ReplicaSet", "kubectl set resources replicaset/w -n ns --limits=memory=1Gi; then delete its pods one at a time so they are re-created with it"},
		{"Job", "a Job's pod template cannot change: set resources (--limits=memory=1Gi) on container c in job/w's manifest (or whatever creates it) for its next run"},
		{"Kafka", "set resources (--limits=memory=1Gi) on container c in Kafka w, whose controller creates the pods, or give namespace ns a LimitRange default"},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			name := "w-0"
			if tc.kind == "Deployment" {
				name = "w-5f7c9-a"
			}
			r := Run(snap(nodes, pod("ns", name, tc.kind, "w", noLimit, on("n1"))), Options{}, now)
			if f := one(t, r, MissingMemoryLimit, "ns/"+tc.kind+"/w"); f.Fix != tc.fix {
				t.Errorf("fix\n%q, want\n%q", f.Fix, tc.fix)
			}
		})
	}
}

func TestSeverityOrderAndCounts(t *testing.T) {
	nodes := []cluster.Node{node("n1", "1Gi")}
	s := snap(nodes,
		pod("a", "x", "", "", []corev1.Container{none("x")}, on("n1")),
		pod("b", "y", "", "", []corev1.Container{ctr("y", list("memory", "1Gi"), nil)}, on("n1")),
	)
	r := Run(s, Options{}, now)
	if !slices.IsSortedFunc(r.Findings, func(x, y Finding) int { return x.Severity.rank() - y.Severity.rank() }) {
		t.Errorf("not gravest first:\n%s", dumpFindings(r))
	}
	if r.Critical+r.Warning+r.Info != len(r.Findings) || r.Critical == 0 || r.Info == 0 {
		t.Errorf("counts %d/%d/%d of %d", r.Critical, r.Warning, r.Info, len(r.Findings))
	}
	if !r.Failing(Critical) || !r.Failing(Warning) {
		t.Error("a report with critical findings must fail at every threshold")
	}
	clean := Run(snap(nodes, pod("a", "x", "", "", []corev1.Container{full("x")}, on("n1"))), Options{}, now)
	if clean.Failing(Warning) || !clean.Failing(Info) {
		t.Errorf("info-only report: failing(warning)=%v failing(info)=%v:\n%s", clean.Failing(Warning), clean.Failing(Info), dumpFindings(clean))
	}
}

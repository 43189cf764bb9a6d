package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nodewatch/nodewatch/internal/api"
	"github.com/nodewatch/nodewatch/internal/collect"
	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/history"
	"github.com/nodewatch/nodewatch/internal/recommend"
)

const mi = 1 << 20

// series is one synthetic container of the fixture's history, sampled
// every 30 s like the daemon does.
type series struct {
	ns, pod, container, kind, workload string
	from, to                           time.Time
	mem                                func(d time.Duration) float64 // bytes, d since from
	cpu                                func(d time.Duration) float64 // cores
	oomAt                              time.Duration                 // an OOM event this long after from (0: none)
}

func (s series) samples() []collect.Sample {
	lbl := func(name string) labels.Labels {
		b := labels.NewBuilder(labels.FromStrings("__name__", name, "namespace", s.ns, "pod", s.pod, "container", s.container, "node", "node-a"))
		if s.kind != "" {
			b.Set("workload_kind", s.kind)
			b.Set("workload", s.workload)
		}
		return b.Labels()
	}
	mem, cpu, oom := lbl("container_memory_working_set_bytes"), lbl("container_cpu_usage_seconds_total"), lbl("container_oom_events_total")
	var out []collect.Sample
	used, kills := 0.0, 0.0
	for t := s.from; !t.After(s.to); t = t.Add(30 * time.Second) {
		d := t.Sub(s.from)
		used += s.cpu(d) * 30
		if s.oomAt > 0 && d >= s.oomAt {
			kills = 1
		}
		out = append(out, collect.Sample{Labels: mem, T: t.UnixMilli(), V: s.mem(d)},
			collect.Sample{Labels: cpu, T: t.UnixMilli(), V: used}, collect.Sample{Labels: oom, T: t.UnixMilli(), V: kills})
	}
	return out
}

func flat(v float64) func(time.Duration) float64 { return func(time.Duration) float64 { return v } }

// fixtureHistory is three hours before fixedNow: a steady Deployment with a
// sidecar, a spiky one (3 min at 900 Mi every hour over 100 Mi), a leaking
// ReplicationController, a CronJob's runs every 30 min (one OOM-killed at
// its 512 Mi limit), a StatefulSet only 10 minutes old, and a pod of a
// workload that no longer exists.
func fixtureHistory() []series {
	start := fixedNow.Add(-3 * time.Hour)
	wobble := func(base float64) func(time.Duration) float64 {
		return func(d time.Duration) float64 { return base + 4*mi*math.Sin(d.Minutes()) }
	}
	spike := func(base, top float64) func(time.Duration) float64 {
		return func(d time.Duration) float64 {
			if math.Mod(d.Minutes(), 60) < 3 {
				return top
			}
			return base
		}
	}
	out := []series{
		{ns: "web", pod: "steady-7d4b9c-abcde", container: "app", kind: "Deployment", workload: "steady", mem: wobble(200 * mi), cpu: flat(0.1)},
		{ns: "web", pod: "steady-7d4b9c-fghij", container: "app", kind: "Deployment", workload: "steady", mem: wobble(210 * mi), cpu: flat(0.12)},
		{ns: "web", pod: "steady-7d4b9c-abcde", container: "proxy", kind: "Deployment", workload: "steady", mem: flat(30 * mi), cpu: flat(0.01)},
		{ns: "web", pod: "steady-7d4b9c-fghij", container: "proxy", kind: "Deployment", workload: "steady", mem: flat(30 * mi), cpu: flat(0.01)},
		{ns: "web", pod: "spiky-5f6d8b-kx2mq", container: "worker", kind: "Deployment", workload: "spiky", mem: spike(100*mi, 900*mi), cpu: spike(0.05, 1)},
		{ns: "emails", pod: "unanswered-emails-x7k2p", container: "mail", kind: "ReplicationController", workload: "unanswered-emails",
			mem: func(d time.Duration) float64 { return 100*mi + 60*mi*d.Hours() }, cpu: flat(0.02)},
		{ns: "web", pod: "old-thing-abc12", container: "app", mem: flat(50 * mi), cpu: flat(0.01), to: start.Add(time.Hour)},
		{ns: "db", pod: "postgres-0", container: "postgres", from: fixedNow.Add(-10 * time.Minute), mem: flat(300 * mi), cpu: flat(0.2)},
	}
	for i := range 6 {
		run := start.Add(time.Duration(i) * 30 * time.Minute)
		s := series{ns: "batch", pod: fmt.Sprintf("nightly-report-%d-r%04d", 29400000+30*i, i), container: "report", from: run, to: run.Add(10 * time.Minute),
			kind: "CronJob", workload: "nightly-report", cpu: flat(1),
			mem: func(d time.Duration) float64 { return 80*mi + float64(380+10*i)*mi*d.Minutes()/10 }}
		if i == 2 { // the one that ran into its limit
			s.mem = func(d time.Duration) float64 { return min(80*mi+500*mi*d.Minutes()/8, 510*mi) }
			s.oomAt = 9 * time.Minute
		}
		if i == 4 { // from a Prometheus without workload labels: matched by its name
			s.kind, s.workload = "", ""
		}
		out = append(out, s)
	}
	for i := range out {
		if out[i].from.IsZero() {
			out[i].from = start
		}
		if out[i].to.IsZero() {
			out[i].to = fixedNow
		}
	}
	return out
}

// historyServer serves the fixture through nodewatch's own store and
// Prometheus-compatible API; downsample writes the 5-minute aggregates.
func historyServer(t *testing.T, downsample bool) recommend.History {
	t.Helper()
	db, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() }) // a scratch store: a close error fails no check
	var batch []collect.Sample
	for _, s := range fixtureHistory() {
		batch = append(batch, s.samples()...)
	}
	slices.SortStableFunc(batch, func(a, b collect.Sample) int { return cmp.Compare(a.T, b.T) })
	// Appended as the daemon does, a scrape at a time, downsampling after
	// each (the store takes no sample more than an hour behind its newest).
	for len(batch) > 0 {
		n := 1
		for n < len(batch) && batch[n].T == batch[0].T {
			n++
		}
		if r, err := db.Append(context.Background(), batch[:n]); err != nil || r.Appended != n {
			t.Fatalf("append: %+v %v", r, err)
		}
		if downsample {
			if _, err := db.Downsample(context.Background(), time.UnixMilli(batch[0].T)); err != nil {
				t.Fatal(err)
			}
		}
		batch = batch[n:]
	}
	mux := http.NewServeMux()
	api.PromHandlers(mux, db, func() time.Time { return fixedNow }, api.DefaultLimits)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a, err := historyClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func quantities(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1]) //nolint:gosec // G602: kv holds name, value pairs
	}
	return l
}

// fixtureCluster is the live side of the fixture.
func fixtureCluster() []runtime.Object {
	ctrl := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: ptr(true), APIVersion: "apps/v1"}}
	}
	pod := func(ns, name string, owner []metav1.OwnerReference, hash string, phase corev1.PodPhase, cs ...corev1.Container) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owner},
			Spec: corev1.PodSpec{NodeName: "node-a", Containers: cs}, Status: corev1.PodStatus{Phase: phase}}
		if hash != "" {
			p.Labels = map[string]string{"pod-template-hash": hash}
		}
		for _, c := range cs {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name})
		}
		return p
	}
	res := func(req, lim corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: req, Limits: lim}
	}
	steadyApp := corev1.Container{Name: "app", Resources: res(quantities("cpu", "50m"), quantities("cpu", "50m"))}
	proxy := corev1.Container{Name: "proxy", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}
	var objs []runtime.Object
	for _, name := range []string{"steady-7d4b9c-abcde", "steady-7d4b9c-fghij"} {
		p := pod("web", name, ctrl("ReplicaSet", "steady-7d4b9c"), "7d4b9c", corev1.PodRunning, steadyApp)
		p.Spec.InitContainers = []corev1.Container{proxy}
		objs = append(objs, p)
	}
	worker := corev1.Container{Name: "worker", Resources: res(quantities("cpu", "1", "memory", "1Gi"), quantities("memory", "1Gi"))}
	objs = append(objs, pod("web", "spiky-5f6d8b-kx2mq", ctrl("ReplicaSet", "spiky-5f6d8b"), "5f6d8b", corev1.PodRunning, worker))
	mail := pod("emails", "unanswered-emails-x7k2p", ctrl("ReplicationController", "unanswered-emails"), "", corev1.PodRunning, corev1.Container{Name: "mail"})
	mail.Status.ContainerStatuses[0].RestartCount = 3
	objs = append(objs, mail)
	report := corev1.Container{Name: "report", Resources: res(quantities("cpu", "500m", "memory", "256Mi"), quantities("memory", "512Mi"))}
	run := pod("batch", "nightly-report-29400150-r0005", []metav1.OwnerReference{{Kind: "Job", Name: "nightly-report-29400150", Controller: ptr(true), APIVersion: "batch/v1"}},
		"", corev1.PodSucceeded, report)
	run.Status.ContainerStatuses[0].RestartCount = 1
	run.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137,
		FinishedAt: metav1.NewTime(fixedNow.Add(-6 * time.Minute))}
	objs = append(objs, run, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "nightly-report-29400150",
		OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "nightly-report", Controller: ptr(true), APIVersion: "batch/v1"}}}})
	pg := corev1.Container{Name: "postgres", Resources: res(quantities("memory", "1Gi"), quantities("memory", "2Gi"))}
	objs = append(objs, pod("db", "postgres-0", ctrl("StatefulSet", "postgres"), "", corev1.PodRunning, pg))
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})

	// The workloads themselves, for --apply.
	tmpl := func(cs ...corev1.Container) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: cs}}
	}
	steady := tmpl(steadyApp)
	steady.Spec.InitContainers = []corev1.Container{proxy}
	objs = append(objs,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "steady"}, Spec: appsv1.DeploymentSpec{Template: steady}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "spiky"}, Spec: appsv1.DeploymentSpec{Template: tmpl(worker)}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "batch", Name: "nightly-report"},
			Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl(report)}}}},
	)
	return objs
}

// runRecommendWith runs nodewatch recommend in-process against a fake
// cluster and the given history.
func runRecommendWith(t *testing.T, client kubernetes.Interface, a recommend.History, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{Streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, now: func() time.Time { return fixedNow }}
	root := newRoot(g)
	for _, c := range root.Commands() {
		if c.Name() == "recommend" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(recommendCommand(g, func(string) (kubernetes.Interface, recommend.History, error) { return client, a, nil }))
	root.SetArgs(append([]string{"recommend", "--nodewatch-url", "http://nodewatch.test:8080"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	code = exitCode(root.ExecuteContext(context.Background()), &errb)
	return out.String(), errb.String(), code
}

func TestRecommendGolden(t *testing.T) {
	a := historyServer(t, false)
	for _, format := range []string{"table", "json", "yaml", "patch"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := runRecommendWith(t, fake.NewClientset(fixtureCluster()...), a, "--since", "3h", "-o", format)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden.Assert(t, "recommend."+format, []byte(out))
		})
	}
}

// recommendJSON runs recommend -o json and indexes the containers by
// namespace/kind/workload/container.
func recommendJSON(t *testing.T, a recommend.History, args ...string) (recommend.Report, map[string]recommend.Container) {
	t.Helper()
	out, errOut, code := runRecommendWith(t, fake.NewClientset(fixtureCluster()...), a, append([]string{"-o", "json"}, args...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r recommend.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]recommend.Container{}
	for _, w := range r.Workloads {
		for _, c := range w.Containers {
			got[w.Namespace+"/"+w.Kind+"/"+w.Name+"/"+c.Name] = c
		}
	}
	return r, got
}

// TestRecommend reads the JSON report as a script would and checks what the
// issue asks of each workload.
func TestRecommend(t *testing.T) {
	a := historyServer(t, true)
	r, got := recommendJSON(t, a, "--since", "3h")
	pods := map[string]int{}
	for _, w := range r.Workloads {
		pods[w.Namespace+"/"+w.Kind+"/"+w.Name] = w.Pods
	}
	if len(got) != 6 || r.UnmatchedPods != 1 || r.Resolution != "raw" {
		t.Fatalf("containers %v, unmatched %d, resolution %s", keys(got), r.UnmatchedPods, r.Resolution)
	}
	steady := got["web/Deployment/steady/app"]
	if steady.Status != recommend.StatusSized || !between(*steady.Recommended.MemoryRequest, 210*mi, 240*mi) || *steady.Recommended.MemoryLimit < 214*mi {
		t.Fatalf("steady: %+v, want a request just above its ~210 Mi and a limit above its peak", steady.Recommended)
	}
	if *steady.Recommended.CPURequest != 50 || !strings.Contains(steady.Note, "CPU request held at the CPU limit 50m") {
		t.Errorf("steady's CPU request %d (%s): with a 50m CPU limit and no --cpu-limits it must stay at 50m", *steady.Recommended.CPURequest, steady.Note)
	}
	proxy := got["web/Deployment/steady/proxy"]
	if !proxy.Sidecar || proxy.Status != recommend.StatusSized || !between(*proxy.Recommended.MemoryRequest, 30*mi, 34*mi) {
		t.Fatalf("sidecar: %+v", proxy)
	}
	spiky := got["web/Deployment/spiky/worker"]
	if spiky.Status != recommend.StatusSized || *spiky.Recommended.MemoryRequest > 120*mi || *spiky.Recommended.MemoryLimit < 900*mi || !spiky.Details.Spiky {
		t.Fatalf("spiky: %+v %s, want a request near 100 Mi and a limit above 900 Mi", spiky.Recommended, spiky.Note)
	}
	if leak := got["emails/ReplicationController/unanswered-emails/mail"]; leak.Status != recommend.StatusLeak || leak.Recommended != nil ||
		!strings.HasPrefix(leak.Note, "leak: fix the leak first") || leak.Restarts != 3 {
		t.Errorf("leak: %+v", leak)
	}
	cron := got["batch/CronJob/nightly-report/report"]
	if cron.Status != recommend.StatusSized || cron.Details.Stats.Pods != 6 || cron.OOMKills != 2 || cron.Details.OOMEpisodes != 2 {
		t.Errorf("CronJob: %d runs pooled, %d OOM kills, %d episodes; want 6 runs (one matched by name), the kill in the history and the one in the pod's status",
			cron.Details.Stats.Pods, cron.OOMKills, cron.Details.OOMEpisodes)
	}
	if cron.Recommended != nil && *cron.Recommended.MemoryLimit <= 512*mi*6/5 {
		t.Errorf("CronJob killed twice at 512 Mi: limit %d Mi, want it raised past 512 Mi × 1.2", *cron.Recommended.MemoryLimit/mi)
	}
	if pods["batch/CronJob/nightly-report"] != 0 || pods["web/Deployment/steady"] != 2 {
		t.Errorf("pods running: %v", pods)
	}
	pg := got["db/StatefulSet/postgres/postgres"]
	if pg.Status != recommend.StatusNoData || pg.Note != "not enough data (21 samples over 10m)" {
		t.Errorf("postgres: %s %q", pg.Status, pg.Note)
	}
	// Reserved: steady's 2 pods × (app + proxy) from nothing, spiky's 1 Gi
	// down, postgres's 1 Gi unchanged; the CronJob runs no pod now.
	wantBefore := int64(1<<30 + 1<<30)
	wantAfter := 2*(*steady.Recommended.MemoryRequest+*proxy.Recommended.MemoryRequest) + *spiky.Recommended.MemoryRequest + 1<<30
	if r.MemoryReservedBefore != wantBefore || r.MemoryReservedAfter != wantAfter {
		t.Errorf("reserved %d → %d, want %d → %d", r.MemoryReservedBefore, r.MemoryReservedAfter, wantBefore, wantAfter)
	}

	// --cpu-limits sizes the CPU limit from the CPU peak, so the request is
	// no longer held at the user's limit.
	_, withLimits := recommendJSON(t, a, "--since", "3h", "--cpu-limits")
	if s := withLimits["web/Deployment/steady/app"].Recommended; s.CPULimit == nil || *s.CPURequest <= 50 || *s.CPULimit < *s.CPURequest {
		t.Errorf("steady with --cpu-limits: %+v", s)
	}
	if s := got["web/Deployment/spiky/worker"].Recommended; s.CPULimit != nil {
		t.Errorf("a CPU limit without --cpu-limits: %+v", s)
	}

	// Over 5-minute maxima: never a smaller request or limit than from the
	// raw samples. The 3-minute spikes touch 1 or 2 of every 12 windows, so
	// the spiky request may reach the spike; the limit stays above it.
	r5, got5 := recommendJSON(t, a, "--since", "3h", "--resolution", "5m")
	if r5.Resolution != "5m" || len(got5) != 6 || r5.UnmatchedPods != 1 {
		t.Fatalf("5m: %s, containers %v, unmatched %d", r5.Resolution, keys(got5), r5.UnmatchedPods)
	}
	for _, k := range []string{"web/Deployment/steady/app", "web/Deployment/steady/proxy", "web/Deployment/spiky/worker"} {
		raw, agg := got[k].Recommended, got5[k].Recommended
		if agg == nil || *agg.MemoryRequest < *raw.MemoryRequest || *agg.MemoryLimit < *raw.MemoryLimit {
			t.Errorf("%s over 5m maxima %+v, raw %+v: want at least the raw sizes", k, agg, raw)
		}
	}
	if leak := got5["emails/ReplicationController/unanswered-emails/mail"]; leak.Status != recommend.StatusLeak {
		t.Errorf("5m: the leak is %s: %s", leak.Status, leak.Note)
	}
}

func between(v, lo, hi int64) bool { return v >= lo && v <= hi }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRecommendFromPrometheus: without nodewatch's aggregates (a plain
// Prometheus), the 5-minute path computes them with a range query and
// gives the same sizes as with them.
func TestRecommendFromPrometheus(t *testing.T) {
	sizes := func(a recommend.History) string {
		out, errOut, code := runRecommendWith(t, fake.NewClientset(fixtureCluster()...), a, "--since", "3h", "--resolution", "5m", "-o", "json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var r recommend.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, w := range r.Workloads {
			for _, c := range w.Containers {
				fmt.Fprintf(&b, "%s/%s %s %s", w.Name, c.Name, c.Status, c.Note)
				if c.Recommended != nil {
					fmt.Fprintf(&b, " %d %d %d", *c.Recommended.MemoryRequest, *c.Recommended.MemoryLimit, *c.Recommended.CPURequest)
				}
				b.WriteString("\n")
			}
		}
		return b.String()
	}
	with, without := sizes(historyServer(t, true)), sizes(historyServer(t, false))
	if with != without || !strings.Contains(with, "steady/app sized") {
		t.Errorf("with the aggregates:\n%s\nwithout:\n%s", with, without)
	}
}

func TestRecommendApply(t *testing.T) {
	a := historyServer(t, false)
	t.Run("needs --yes", func(t *testing.T) {
		_, errOut, code := runRecommendWith(t, fake.NewClientset(fixtureCluster()...), a, "--since", "3h", "--apply")
		if code != ExitError || !strings.Contains(errOut, "add --yes") {
			t.Errorf("exit %d stderr %q", code, errOut)
		}
	})
	t.Run("dry run first, then every patch", func(t *testing.T) {
		c := fake.NewClientset(fixtureCluster()...)
		var calls []string
		c.PrependReactor("patch", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
			p := action.(k8stesting.PatchActionImpl)
			dry := len(p.GetPatchOptions().DryRun) > 0
			calls = append(calls, fmt.Sprintf("%s/%s dry=%v", p.GetResource().Resource, p.GetName(), dry))
			return dry, nil, nil // a dry run stores nothing; a real patch goes on to the tracker
		})
		out, errOut, code := runRecommendWith(t, c, a, "--since", "3h", "--apply", "--yes")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want := []string{"cronjobs/nightly-report dry=true", "deployments/spiky dry=true", "deployments/steady dry=true",
			"cronjobs/nightly-report dry=false", "deployments/spiky dry=false", "deployments/steady dry=false"}
		if strings.Join(calls, "\n") != strings.Join(want, "\n") {
			t.Errorf("patch calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
		}
		if !strings.Contains(out, "deployment/steady patched (namespace web)") {
			t.Errorf("output: %s", out)
		}
		d, err := c.AppsV1().Deployments("web").Get(context.Background(), "steady", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		app, proxy := d.Spec.Template.Spec.Containers[0], d.Spec.Template.Spec.InitContainers[0]
		if app.Resources.Requests.Memory().IsZero() || app.Resources.Limits.Memory().IsZero() ||
			app.Resources.Limits.Cpu().String() != "50m" || app.Resources.Requests.Cpu().String() != "50m" {
			t.Errorf("steady app after apply: %+v", app.Resources)
		}
		if proxy.Resources.Requests.Memory().IsZero() || proxy.RestartPolicy == nil {
			t.Errorf("sidecar after apply: %+v", proxy)
		}
	})
	t.Run("a refused dry run applies nothing", func(t *testing.T) {
		c := fake.NewClientset(fixtureCluster()...)
		real := 0
		c.PrependReactor("patch", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
			p := action.(k8stesting.PatchActionImpl)
			if len(p.GetPatchOptions().DryRun) == 0 {
				real++
				return true, nil, nil
			}
			if p.GetName() == "spiky" {
				return true, nil, errors.New(`admission webhook "quota.example" denied the request: exceeded quota`)
			}
			return true, nil, nil
		})
		_, errOut, code := runRecommendWith(t, c, a, "--since", "3h", "--apply", "--yes", "-o", "json")
		if code != ExitError || real != 0 || !strings.Contains(errOut, "deployment/spiky -n web: admission webhook") || !strings.Contains(errOut, "nothing was applied") {
			t.Errorf("exit %d, %d real patches, stderr %q", code, real, errOut)
		}
	})
}

func TestRecommendErrors(t *testing.T) {
	a := historyServer(t, false)
	broken := func() recommend.History {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusBadGateway) }))
		t.Cleanup(srv.Close)
		a, _ := historyClient(srv.URL)
		return a
	}()
	cases := []struct {
		name   string
		a      recommend.History
		args   []string
		stderr string
	}{
		{"bad format", a, []string{"-o", "xml"}, `unknown output format "xml"`},
		{"bad since", a, []string{"--since", "soon"}, `"soon" is not a duration`},
		{"bad resolution", a, []string{"--resolution", "1m"}, `--resolution "1m": use auto, raw or 5m`},
		{"bad min history", a, []string{"--min-history", "30d"}, "minSpan, fullSpan"},
		{"history down", broken, []string{"--since", "1h"}, "reading the history from http://nodewatch.test:8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runRecommendWith(t, fake.NewClientset(fixtureCluster()...), tc.a, tc.args...)
			if code != ExitError || !strings.Contains(errOut, tc.stderr) || out != "" {
				t.Errorf("exit %d stdout %q stderr %q, want exit 2 and stderr containing %q", code, out, errOut, tc.stderr)
			}
		})
	}
	// The real command, unreachable cluster: an error, not a panic.
	_, errOut, code := run(t, nil, "", "recommend", "--kubeconfig", "testdata/unreachable.kubeconfig", "--request-timeout", "2s")
	if code != ExitError || !strings.Contains(errOut, "listing nodes") {
		t.Errorf("unreachable cluster: exit %d stderr %q", code, errOut)
	}
}

// Command run benchmarks the daemon, `nodewatch run`, on the real simulated
// cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok, from internal/simcluster), with the Slack-contract receiver of
// internal/notify/slack/slacktest standing in for Slack. The results are in
// BENCHMARKS.md; bench/run.sh runs every scenario.
//
// Scenarios (-scenario):
//
//	latency  Detection latency with --group-window 0: nodes stop heartbeating
//	         (several per round, failed right after a Lease renewal and
//	         staggered, so the node lifecycle controller's writes and the 1/s
//	         Slack rate limit never overlap), and for each the time from
//	         Ready=Unknown to the receiver accepting "<node> is down". Ready=
//	         Unknown is timed twice: when the harness's own node watch sees it
//	         (precise) and by the condition's lastTransitionTime (truncated to
//	         whole seconds by the API, so that latency reads 0–1 s long).
//	         Each node is failed once: a second failure within 15 min would
//	         be its third Ready transition, and flapping suppresses the alert.
//	         After a round the nodes recover and their pods are reported
//	         Ready again, as a kubelet would (kwok does not), so no
//	         WorkloadUnavailable alert queues in front of the next round's.
//	early    Early warning: from the node's last Lease renewal (spec.renewTime,
//	         microseconds) to the receiver accepting "early warning: <node>
//	         stopped heartbeating", with the controller's grace at 40 s so the
//	         warning comes first. Each node is recovered as soon as its warning
//	         arrives (before the grace runs out, so Ready never changes and
//	         nodes can be failed again).
//	memory   RSS (anonymous and file-backed) and Go heap of a daemon started
//	         on the empty cluster, then of a fresh daemon on -nodes kwok nodes
//	         with -pods pods (Deployments of 100 replicas, 3 per namespace),
//	         after its informers synced and -settle passed, sampled over
//	         -window; live heap after each GC from the daemon's own
//	         GODEBUG=gctrace=1 lines; bytes per cached object. -steps N
//	         measures at N evenly spaced scales on the way up. Each scale is
//	         measured with the informers alone (--scrape-interval 0) and, with
//	         -scrape, as deployed (scraping every kubelet every 30 s).
//
// Examples:
//
//	go run ./bench/run -scenario latency -failures 100
//	go run ./bench/run -scenario early -failures 100
//	go run ./bench/run -scenario memory -nodes 1000 -pods 30000 -steps 4
//
// It prints a table (p50/p90/p99/max; p99 is the nearest rank, so below 100
// samples it is the largest) and the command that reproduces it, and with
// -out DIR writes the raw samples to DIR/<scenario>.json. Every process it
// starts is stopped when it ends, also on SIGINT.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

type options struct {
	scenario        string
	bin             string
	failures, nodes int
	pods, parallel  int
	steps           int
	stagger, grace  time.Duration
	settle, window  time.Duration
	populate        time.Duration
	timeout         time.Duration
	out             string
	keep, scrape    bool
	daemonArgs      string
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "", "latency, early or memory")
	flag.StringVar(&o.bin, "nodewatch", "", "nodewatch binary (default: go build ./cmd/nodewatch into a temp dir)")
	flag.IntVar(&o.failures, "failures", 100, "latency/early: node failures to measure")
	flag.IntVar(&o.nodes, "nodes", 0, "nodes (default: latency failures+10, early 20, memory 1000)")
	flag.IntVar(&o.pods, "pods", 0, "pods, in Deployments of up to 100 (default: 10 per node; memory 30000)")
	flag.IntVar(&o.parallel, "parallel", 6, "latency/early: nodes failed per round")
	flag.DurationVar(&o.stagger, "stagger", 5*time.Second, "latency/early: time between two failures of a round")
	flag.DurationVar(&o.grace, "grace", 0, "node lifecycle controller grace period (default: latency 20s, early 40s, memory 20s)")
	flag.IntVar(&o.steps, "steps", 1, "memory: measure at this many evenly spaced scales up to -nodes/-pods")
	flag.DurationVar(&o.settle, "settle", 60*time.Second, "memory: wait after the daemon is ready before sampling")
	flag.DurationVar(&o.window, "window", 60*time.Second, "memory: sampling window (every 2s)")
	flag.DurationVar(&o.populate, "populate-timeout", 45*time.Minute, "how long the cluster may take to run every pod")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Hour, "give up after this long")
	flag.StringVar(&o.out, "out", "", "directory for the raw samples (<scenario>.json)")
	flag.BoolVar(&o.scrape, "scrape", true, "memory: also measure the daemon as deployed, scraping every kubelet every 30s")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir (cluster data, component and daemon logs)")
	flag.StringVar(&o.daemonArgs, "daemon-args", "", "extra arguments for nodewatch run, space separated")
	flag.Parse()
	switch o.scenario {
	case "latency":
		o.nodes = cmp(o.nodes, o.failures+10)
		o.grace = cmpDur(o.grace, 20*time.Second)
	case "early":
		o.nodes = cmp(o.nodes, 20)
		o.grace = cmpDur(o.grace, 40*time.Second)
	case "memory":
		o.nodes = cmp(o.nodes, 1000)
		o.pods = cmp(o.pods, 30000)
		o.grace = cmpDur(o.grace, 20*time.Second)
	default:
		fmt.Fprintln(os.Stderr, "bench/run: -scenario must be latency, early or memory")
		os.Exit(2)
	}
	o.pods = cmp(o.pods, 10*o.nodes)
	if o.scenario == "latency" && o.nodes < o.failures {
		fmt.Fprintln(os.Stderr, "bench/run: latency fails each node once: -nodes must be at least -failures")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err := run(ctx, o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	work, err := os.MkdirTemp("", "nodewatch-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep || err != nil {
			logf("work dir kept: %s (logs in cluster/logs and daemon-*.log)", work)
			return
		}
		_ = os.RemoveAll(work)
	}()
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(work, "nodewatch")
		logf("building %s", bin)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/nodewatch")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building nodewatch (run from the repository root): %w", err)
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	logf("starting the simulated cluster (grace %s)", o.grace)
	c, err := simcluster.Start(ctx, simcluster.Options{Dir: filepath.Join(work, "cluster"), NodeMonitorGracePeriod: o.grace})
	if err != nil {
		return err
	}
	defer c.Stop()
	rx := newReceiver()
	defer rx.Close()
	env := []string{"NODEWATCH_SLACK_WEBHOOK=" + rx.URL()}
	var result any
	switch o.scenario {
	case "memory":
		result, err = memory(ctx, o, c, bin, work, env)
	default:
		result, err = failures(ctx, o, c, rx, bin, work, env)
	}
	if err != nil {
		return err
	}
	v, _ := exec.Command(bin, "version").Output()
	fmt.Printf("\nnodewatch: %s\nmachine: %s\nreproduce: %s\n", strings.TrimSpace(string(v)), machine(), reproduce())
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(result, "", "  ")
		path := filepath.Join(o.out, o.scenario+".json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("raw samples: %s\n", path)
	}
	return nil
}

// ---- the receiver ----

// arrival is a message the receiver accepted, timed when its request came in.
type arrival struct {
	At     time.Time `json:"at"`
	Header string    `json:"header"`
}

// receiver is slacktest's Slack-contract receiver behind a handler that
// timestamps each request on arrival.
type receiver struct {
	rx  *slacktest.Receiver
	srv *httptest.Server
	mu  sync.Mutex
	got []arrival
}

func newReceiver() *receiver {
	r := &receiver{rx: slacktest.New()}
	inner := r.rx.Config.Handler
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		inner.ServeHTTP(sw, req)
		if sw.status != http.StatusOK {
			logf("receiver rejected a message: %d", sw.status)
			return
		}
		var m slacktest.Message
		_ = json.Unmarshal(body, &m)
		h := m.Text
		if len(m.Blocks) > 0 && m.Blocks[0].Text != nil {
			h = m.Blocks[0].Text.Text
		}
		r.mu.Lock()
		r.got = append(r.got, arrival{At: at, Header: h})
		r.mu.Unlock()
	}))
	return r
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (r *receiver) URL() string { return r.srv.URL }

func (r *receiver) Close() {
	r.srv.Close()
	r.rx.Close()
}

func (r *receiver) all() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// first is the arrival time of the first message after since whose header
// matches, or zero.
func (r *receiver) first(since time.Time, match func(string) bool) time.Time {
	for _, a := range r.all() {
		if a.At.After(since) && match(a.Header) {
			return a.At
		}
	}
	return time.Time{}
}

// contended reports whether another message was accepted within 1.1 s
// before at: the daemon's Slack sink sends at most one per second, so such a
// message may have held this one back.
func (r *receiver) contended(at time.Time) bool {
	for _, a := range r.all() {
		if a.At.Before(at) && at.Sub(a.At) < 1100*time.Millisecond {
			return true
		}
	}
	return false
}

// The matchers take Slack headers, "<emoji> <title>".
func downTitle(n string) func(string) bool {
	return func(h string) bool { return titled(h, n+" is down") }
}

func earlyTitle(n string) func(string) bool {
	return func(h string) bool { return titled(h, "early warning: "+n+" stopped heartbeating") }
}

func recoveredTitle(n string) func(string) bool {
	return func(h string) bool { return strings.Contains(" "+h, " "+n+" recovered (") }
}

func titled(header, title string) bool {
	return header == title || strings.HasSuffix(header, " "+title)
}

// ---- the daemon ----

type daemon struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	started time.Time
	done    chan struct{}
}

func startDaemon(bin, kubeconfig, dataDir, logPath string, env []string, args ...string) (*daemon, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	all := append([]string{"run", "--kubeconfig", kubeconfig, "--data-dir", dataDir, "--listen", addr}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d := &daemon{cmd: cmd, addr: addr, logPath: logPath, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); logf.Close(); close(d.done) }()
	return d, nil
}

// waitReady waits for /readyz (informers synced) and returns how long the
// daemon took from its start.
func (d *daemon) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(d.started), nil
			}
		}
		select {
		case <-d.done:
			return 0, fmt.Errorf("nodewatch run exited; log %s", d.logPath)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("nodewatch run not ready after %s; log %s", timeout, d.logPath)
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 15 s.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		logf("nodewatch did not stop within 15s of SIGTERM; killing it")
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// metrics reads /metrics into "name{labels}" → value.
func (d *daemon) metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// procStatus reads /proc/PID/status's memory lines (VmRSS, VmHWM, RssAnon,
// RssFile) in bytes.
func procStatus(pid int) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			out[strings.TrimSuffix(f[0], ":")] = kb * 1024
		}
	}
	return out, nil
}

// mappedFiles sums /proc/PID/smaps's Rss by mapped file, largest first.
func mappedFiles(pid int) map[string]float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	file := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			file = "[anon]"
			if len(f) >= 6 {
				file = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:":
			kb, _ := strconv.ParseFloat(f[1], 64)
			out[file] += kb * 1024
		}
	}
	return out
}

// cpuSeconds is the process's user+system CPU time (USER_HZ = 100).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// ---- the harness's own watch ----

// watcher times what the harness's own informers see: each node's newest
// Lease renewTime, and when a failed node's Ready condition left True.
type watcher struct {
	mu      sync.Mutex
	renew   map[string]time.Time
	down    map[string]seen
	armed   map[string]bool
	ready   map[string]string
	renewed chan string
}

type seen struct {
	At, LTT time.Time
	Status  string
}

func watch(ctx context.Context, client kubernetes.Interface) (*watcher, error) {
	w := &watcher{renew: map[string]time.Time{}, down: map[string]seen{}, armed: map[string]bool{},
		ready: map[string]string{}, renewed: make(chan string, 4096)}
	f := informers.NewSharedInformerFactory(client, 0)
	nodes := f.Core().V1().Nodes().Informer()
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.node(time.Now(), o) },
		UpdateFunc: func(_, o any) { w.node(time.Now(), o) },
	})
	lf := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("kube-node-lease"))
	leases := lf.Coordination().V1().Leases().Informer()
	_, _ = leases.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.lease,
		UpdateFunc: func(_, o any) { w.lease(o) },
	})
	f.Start(ctx.Done())
	lf.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodes.HasSynced, leases.HasSynced) {
		return nil, errors.New("the harness's informers did not sync")
	}
	return w, nil
}

func (w *watcher) node(now time.Time, o any) {
	n, ok := o.(*corev1.Node)
	if !ok {
		return
	}
	status, ltt := "", time.Time{}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status, ltt = string(c.Status), c.LastTransitionTime.Time
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready[n.Name] = status
	if _, done := w.down[n.Name]; w.armed[n.Name] && !done && status != "" && status != "True" {
		w.down[n.Name] = seen{At: now, LTT: ltt, Status: status}
	}
}

func (w *watcher) lease(o any) {
	l, ok := o.(*coordinationv1.Lease)
	if !ok || l.Spec.RenewTime == nil {
		return
	}
	w.mu.Lock()
	newer := l.Spec.RenewTime.After(w.renew[l.Name])
	if newer {
		w.renew[l.Name] = l.Spec.RenewTime.Time
	}
	w.mu.Unlock()
	if newer {
		select {
		case w.renewed <- l.Name:
		default:
		}
	}
}

func (w *watcher) arm(node string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed[node] = on
	if on {
		delete(w.down, node)
	}
}

func (w *watcher) state(node string) (renew time.Time, down seen, ready string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.renew[node], w.down[node], w.ready[node]
}

// failNext fails, right after its Lease renewal, the next eligible node to
// renew: its Ready=Unknown then comes a predictable grace period later.
func (w *watcher) failNext(ctx context.Context, c *simcluster.Cluster, eligible func(string) bool) (string, time.Time, error) {
	for len(w.renewed) > 0 {
		<-w.renewed
	}
	for {
		select {
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		case n := <-w.renewed:
			if _, _, ready := w.state(n); !eligible(n) || ready != "True" {
				continue
			}
			w.arm(n, true)
			at := time.Now()
			return n, at, c.FailNode(ctx, n)
		}
	}
}

// ---- latency and early warning ----

// failure is one node failure and what was seen of it.
type failure struct {
	Node         string    `json:"node"`
	FailedAt     time.Time `json:"failedAt"`
	LastRenew    time.Time `json:"lastRenew"`
	WatchSaw     time.Time `json:"watchSawNotReady,omitzero"`
	LTT          time.Time `json:"lastTransitionTime,omitzero"`
	Opened       time.Time `json:"daemonOpenedIncident,omitzero"`
	Early        time.Time `json:"earlyWarningArrived,omitzero"`
	Down         time.Time `json:"downArrived,omitzero"`
	Recovered    time.Time `json:"recoveredArrived,omitzero"`
	Contended    bool      `json:"contended"`
	QueuedForMS  float64   `json:"outboxQueuedForMs"`
	WentNotReady bool      `json:"wentNotReady"`
}

// restoreReadiness does what a kubelet does when its node comes back: it
// reports its pods Ready again. The node lifecycle controller set them
// NotReady when the node went Unknown, and kwok only readies Pending pods,
// so without this the Deployments would stay short of replicas and
// WorkloadUnavailable alerts would queue in front of the measured ones.
func restoreReadiness(ctx context.Context, c *simcluster.Cluster, fs []*failure) (int, error) {
	n := 0
	for _, f := range fs {
		pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + f.Node})
		if err != nil {
			return n, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			changed := false
			for j := range p.Status.Conditions {
				cond := &p.Status.Conditions[j]
				if (cond.Type == corev1.PodReady || cond.Type == corev1.ContainersReady) && cond.Status != corev1.ConditionTrue {
					cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = corev1.ConditionTrue, "", "", metav1.Now()
					changed = true
				}
			}
			for j := range p.Status.ContainerStatuses {
				p.Status.ContainerStatuses[j].Ready = true
			}
			if !changed {
				continue
			}
			if _, err := c.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				return n, fmt.Errorf("readying pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			n++
		}
	}
	return n, nil
}

// snapshot takes the node's last Lease renewal and what the harness's watch
// saw of its Ready condition; call it before the node recovers.
func (f *failure) snapshot(w *watcher) {
	renew, down, _ := w.state(f.Node)
	f.LastRenew, f.WatchSaw, f.LTT, f.WentNotReady = renew, down.At, down.LTT, !down.At.IsZero()
}

type failureResult struct {
	Scenario string             `json:"scenario"`
	Nodes    int                `json:"nodes"`
	Pods     int                `json:"pods"`
	Grace    string             `json:"grace"`
	Failures []*failure         `json:"failures"`
	Arrivals []arrival          `json:"arrivals"`
	Metrics  map[string]float64 `json:"daemonMetrics"`
}

func failures(ctx context.Context, o options, c *simcluster.Cluster, rx *receiver, bin, work string, env []string) (*failureResult, error) {
	if err := populate(ctx, o, c, "node", o.nodes, o.pods, 0); err != nil {
		return nil, err
	}
	w, err := watch(ctx, c.Client)
	if err != nil {
		return nil, err
	}
	args := append([]string{"--group-window", "0"}, strings.Fields(o.daemonArgs)...)
	d, err := startDaemon(bin, c.Kubeconfig, filepath.Join(work, "data"), filepath.Join(work, "daemon-"+o.scenario+".log"), env, args...)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	if _, err := d.waitReady(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	time.Sleep(5 * time.Second) // let the daemon's first evaluations pass
	early := o.scenario == "early"
	used := map[string]int{}
	var all []*failure
	for round := 1; len(all) < o.failures; round++ {
		k := min(o.parallel, o.failures-len(all))
		inRound := map[string]bool{}
		var fs []*failure
		var mu sync.Mutex
		recovered := map[string]bool{}
		roundCtx, cancelRound := context.WithCancel(ctx)
		var wg sync.WaitGroup
		if early { // recover each node as soon as its warning arrives
			wg.Go(func() {
				for roundCtx.Err() == nil && len(recovered) < k {
					mu.Lock()
					cur := slices.Clone(fs)
					mu.Unlock()
					for _, f := range cur {
						if recovered[f.Node] || rx.first(f.FailedAt, earlyTitle(f.Node)).IsZero() {
							continue
						}
						recovered[f.Node] = true
						f.snapshot(w) // before kwok renews the Lease again
						if err := c.RecoverNode(ctx, f.Node); err != nil {
							logf("recovering %s: %v", f.Node, err)
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
		for i := range k {
			if i > 0 {
				time.Sleep(time.Until(fs[i-1].FailedAt.Add(o.stagger)))
			}
			n, at, err := w.failNext(ctx, c, func(n string) bool {
				return !inRound[n] && (early || used[n] == 0)
			})
			if err != nil {
				cancelRound()
				return nil, err
			}
			inRound[n] = true
			used[n]++
			mu.Lock()
			fs = append(fs, &failure{Node: n, FailedAt: at})
			mu.Unlock()
		}
		logf("round %d: failed %d nodes", round, k)
		want := downTitle
		if early {
			want = earlyTitle
		}
		err := waitFor(ctx, o.grace+90*time.Second, func() bool {
			for _, f := range fs {
				if rx.first(f.FailedAt, want(f.Node)).IsZero() {
					return false
				}
			}
			return true
		})
		if err != nil {
			cancelRound()
		}
		wg.Wait() // in early, until every node of the round is recovered
		cancelRound()
		if err != nil {
			return nil, fmt.Errorf("round %d: not every alert arrived: %w; log %s", round, err, d.logPath)
		}
		if !early {
			for _, f := range fs {
				f.snapshot(w)
				if err := c.RecoverNode(ctx, f.Node); err != nil {
					return nil, err
				}
			}
		}
		err = waitFor(ctx, 2*time.Minute, func() bool {
			for _, f := range fs {
				if _, _, ready := w.state(f.Node); ready != "True" || rx.first(f.FailedAt, recoveredTitle(f.Node)).IsZero() {
					return false
				}
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("round %d: nodes did not recover: %w", round, err)
		}
		if !early {
			n, err := restoreReadiness(ctx, c, fs)
			if err != nil {
				return nil, err
			}
			logf("round %d: recovered; %d pods set Ready again", round, n)
		}
		for _, f := range fs {
			f.Early = rx.first(f.FailedAt, earlyTitle(f.Node))
			f.Down = rx.first(f.FailedAt, downTitle(f.Node))
			f.Recovered = rx.first(f.FailedAt, recoveredTitle(f.Node))
			measured := f.Down
			if early {
				measured = f.Early
			}
			f.Contended = rx.contended(measured)
			w.arm(f.Node, false)
		}
		all = append(all, fs...)
		time.Sleep(2 * time.Second) // the outbox drains the recoveries
	}
	m, _ := d.metrics()
	d.stop()
	fromLog(d.logPath, all, early)
	res := &failureResult{Scenario: o.scenario, Nodes: o.nodes, Pods: o.pods, Grace: o.grace.String(),
		Failures: all, Arrivals: rx.all(), Metrics: pick(m, "nodewatch_")}
	printFailures(o, res)
	return res, nil
}

var (
	reOpened    = regexp.MustCompile(`^time=(\S+) level=INFO msg="incident opened" .*rule=(\S+) node=(\S+)`)
	reDelivered = regexp.MustCompile(`^time=(\S+) level=INFO msg="notification delivered" sink=slack .*title="([^"]*)" queued_for=(\S+)`)
)

// fromLog adds the daemon's own timings from its log: when it opened each
// incident (millisecond timestamps) and how long the message waited in the
// outbox. A line belongs to the latest failure of its node before it.
func fromLog(path string, fs []*failure, early bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	owner := func(t time.Time, match func(*failure) bool) *failure {
		var best *failure
		for _, f := range fs {
			if match(f) && !f.FailedAt.After(t) && (best == nil || f.FailedAt.After(best.FailedAt)) {
				best = f
			}
		}
		return best
	}
	rule := detectRule(early)
	for _, line := range strings.Split(string(b), "\n") {
		if m := reOpened.FindStringSubmatch(line); m != nil && m[2] == rule {
			t, err := time.Parse(time.RFC3339Nano, m[1])
			if f := owner(t, func(f *failure) bool { return f.Node == m[3] }); err == nil && f != nil && f.Opened.IsZero() {
				f.Opened = t
			}
		}
		if m := reDelivered.FindStringSubmatch(line); m != nil {
			t, err := time.Parse(time.RFC3339Nano, m[1])
			f := owner(t, func(f *failure) bool {
				if early {
					return earlyTitle(f.Node)(m[2])
				}
				return downTitle(f.Node)(m[2])
			})
			if q, qerr := time.ParseDuration(m[3]); err == nil && qerr == nil && f != nil && f.QueuedForMS == 0 {
				f.QueuedForMS = float64(q) / float64(time.Millisecond)
			}
		}
	}
}

func detectRule(early bool) string {
	if early {
		return "NodeLeaseStale"
	}
	return "NodeNotReady"
}

func printFailures(o options, r *failureResult) {
	early := o.scenario == "early"
	var rows []row
	add := func(name string, unit time.Duration, get func(f *failure) (time.Duration, bool)) {
		var xs []float64
		for _, f := range r.Failures {
			if d, ok := get(f); ok {
				xs = append(xs, float64(d)/float64(unit))
			}
		}
		rows = append(rows, row{name: name, xs: xs})
	}
	since := func(a, b time.Time) (time.Duration, bool) { return a.Sub(b), !a.IsZero() && !b.IsZero() }
	contended := 0
	for _, f := range r.Failures {
		if f.Contended {
			contended++
		}
	}
	if early {
		fmt.Printf("\nnodewatch run — early warning (NodeLeaseStale, default 3 × 10 s), %d failures on %d nodes / %d pods, controller grace %s\n",
			len(r.Failures), r.Nodes, r.Pods, r.Grace)
		add("receiver − last Lease renewTime (s)", time.Second, func(f *failure) (time.Duration, bool) { return since(f.Early, f.LastRenew) })
		add("  daemon opened incident − renewTime (s)", time.Second, func(f *failure) (time.Duration, bool) { return since(f.Opened, f.LastRenew) })
		add("  receiver − daemon opened (ms, log ms)", time.Millisecond, func(f *failure) (time.Duration, bool) { return since(f.Early, f.Opened) })
		add("  outbox queued_for (ms, daemon log)", time.Millisecond, func(f *failure) (time.Duration, bool) {
			return time.Duration(f.QueuedForMS * float64(time.Millisecond)), f.QueuedForMS > 0
		})
		add("harness failed node − renewTime (s)", time.Second, func(f *failure) (time.Duration, bool) { return since(f.FailedAt, f.LastRenew) })
	} else {
		fmt.Printf("\nnodewatch run — detection latency (NodeNotReady, --group-window 0), %d failures on %d nodes / %d pods, controller grace %s\n",
			len(r.Failures), r.Nodes, r.Pods, r.Grace)
		add("receiver − harness watch saw Unknown (ms)", time.Millisecond, func(f *failure) (time.Duration, bool) { return since(f.Down, f.WatchSaw) })
		add("receiver − lastTransitionTime (ms)", time.Millisecond, func(f *failure) (time.Duration, bool) { return since(f.Down, f.LTT) })
		add("harness watch − lastTransitionTime (ms)", time.Millisecond, func(f *failure) (time.Duration, bool) { return since(f.WatchSaw, f.LTT) })
		add("  daemon opened − harness watch (ms, log ms)", time.Millisecond, func(f *failure) (time.Duration, bool) { return since(f.Opened, f.WatchSaw) })
		add("  receiver − daemon opened (ms, log ms)", time.Millisecond, func(f *failure) (time.Duration, bool) { return since(f.Down, f.Opened) })
		add("  outbox queued_for (ms, daemon log)", time.Millisecond, func(f *failure) (time.Duration, bool) {
			return time.Duration(f.QueuedForMS * float64(time.Millisecond)), f.QueuedForMS > 0
		})
		add("Unknown − last Lease renewTime (s)", time.Second, func(f *failure) (time.Duration, bool) { return since(f.WatchSaw, f.LastRenew) })
	}
	printRows(rows)
	notReady := 0
	for _, f := range r.Failures {
		if f.WentNotReady {
			notReady++
		}
	}
	fmt.Printf("%d of %d measured messages had another message accepted < 1.1 s before them (Slack sink: 1/s)\n", contended, len(r.Failures))
	if early {
		fmt.Printf("%d of %d nodes went Ready=Unknown before recovery (want 0)\n", notReady, len(r.Failures))
	}
	if s, n := r.Metrics["nodewatch_detection_latency_seconds_sum"], r.Metrics["nodewatch_detection_latency_seconds_count"]; n > 0 {
		fmt.Printf("daemon's own nodewatch_detection_latency_seconds (from lastTransitionTime): mean %.3f s over %.0f\n", s/n, n)
	}
	fmt.Printf("messages accepted by the receiver: %d; failed sends (daemon metrics): %.0f\n",
		len(r.Arrivals), r.Metrics[`nodewatch_notifications_failed_total{permanent="false",sink="slack"}`]+r.Metrics[`nodewatch_notifications_failed_total{permanent="true",sink="slack"}`])
}

// ---- memory ----

type memResult struct {
	Config     string         `json:"config"`
	Label      string         `json:"label"`
	Nodes      int            `json:"nodes"`
	Pods       int            `json:"pods"`
	Objects    map[string]int `json:"objects"`
	Total      int            `json:"totalObjects"`
	ReadyAfter float64        `json:"readySeconds"`
	RSS        float64        `json:"rssBytesMedian"`
	RSSMax     float64        `json:"rssBytesMax"`
	RSSAnon    float64        `json:"rssAnonBytesMedian"`
	RSSFile    float64        `json:"rssFileBytesMedian"`
	// Mapped is the RSS of each mapping of 1 MB or more, by file.
	Mapped    map[string]float64 `json:"rssByMapping"`
	HWM       float64            `json:"rssPeakBytes"`
	HeapInuse float64            `json:"heapInuseBytesMedian"`
	LiveHeap  float64            `json:"liveHeapBytesMedian"`
	GCs       int                `json:"gcsInWindow"`
	CPU       float64            `json:"cpuCores"`
	PopulateS float64            `json:"populateSeconds"`
}

// daemonConfig is one way of running the daemon in the memory scenario.
type daemonConfig struct{ name, args string }

// memoryConfigs: the informers alone (the cache the goal is about),
// and the daemon as deployed, also scraping every kubelet into its history
// every 30 s (kwok's kubelets have self-signed certificates).
var memoryConfigs = []daemonConfig{
	{"informers only (--scrape-interval 0)", "--scrape-interval 0"},
	{"as deployed (scraping every 30s)", "--kubelet-insecure-tls"},
}

func memory(ctx context.Context, o options, c *simcluster.Cluster, bin, work string, env []string) ([]memResult, error) {
	configs := memoryConfigs
	if !o.scrape {
		configs = configs[:1]
	}
	var out []memResult
	step := func(label string, nodes, pods int, took time.Duration) error {
		objs, err := countObjects(ctx, c)
		if err != nil {
			return err
		}
		for _, cfg := range configs {
			r, err := measure(ctx, o, c, bin, work, env, cfg, label, objs)
			if err != nil {
				return err
			}
			r.Nodes, r.Pods, r.PopulateS = nodes, pods, took.Seconds()
			out = append(out, r)
		}
		printMemory(out)
		return nil
	}
	if err := step("empty cluster", 0, 0, 0); err != nil {
		return out, err
	}
	haveNodes, havePods := 0, 0
	for s := 1; s <= o.steps; s++ {
		nodes, pods := o.nodes*s/o.steps, o.pods*s/o.steps
		start := time.Now()
		logf("growing the cluster to %d nodes, %d pods", nodes, pods)
		if err := populate(ctx, o, c, fmt.Sprintf("s%d", s), nodes-haveNodes, pods-havePods, havePods); err != nil {
			return out, err
		}
		took := time.Since(start)
		haveNodes, havePods = nodes, pods
		if err := sleep(ctx, 30*time.Second); err != nil { // controllers' status updates and events settle
			return out, err
		}
		if err := step(fmt.Sprintf("%d nodes, %d pods", nodes, pods), nodes, pods, took); err != nil {
			return out, err
		}
	}
	return out, nil
}

// measured numbers the memory scenario's daemons, for their logs.
var measured int

var reGC = regexp.MustCompile(`^gc \d+ @([\d.]+)s .* (\d+)->(\d+)->(\d+) MB`)

// measure starts a fresh daemon, waits until it is ready and -settle has
// passed, then samples it every 2 s over -window.
func measure(ctx context.Context, o options, c *simcluster.Cluster, bin, work string, env []string,
	cfg daemonConfig, label string, objs map[string]int,
) (memResult, error) {
	r := memResult{Config: cfg.name, Label: label, Objects: objs}
	for _, n := range objs {
		r.Total += n
	}
	measured++
	logPath := filepath.Join(work, fmt.Sprintf("daemon-memory-%d.log", measured))
	dataDir := filepath.Join(work, fmt.Sprintf("data-memory-%d", measured))
	args := append(strings.Fields(cfg.args), strings.Fields(o.daemonArgs)...)
	d, err := startDaemon(bin, c.Kubeconfig, dataDir, logPath, append(slices.Clone(env), "GODEBUG=gctrace=1"), args...)
	if err != nil {
		return r, err
	}
	defer d.stop()
	ready, err := d.waitReady(ctx, 15*time.Minute)
	if err != nil {
		return r, err
	}
	r.ReadyAfter = ready.Seconds()
	logf("%s, %s: daemon ready after %s; settling %s", label, cfg.name, ready.Round(time.Millisecond), o.settle)
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	pid := d.cmd.Process.Pid
	from, cpu0 := time.Now(), cpuSeconds(pid)
	var rss, anon, file, heap []float64
	for time.Since(from) < o.window {
		if st, err := procStatus(pid); err == nil {
			rss, anon, file = append(rss, st["VmRSS"]), append(anon, st["RssAnon"]), append(file, st["RssFile"])
		}
		if m, err := d.metrics(); err == nil {
			heap = append(heap, m["go_memstats_heap_inuse_bytes"])
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return r, err
		}
	}
	r.CPU = (cpuSeconds(pid) - cpu0) / time.Since(from).Seconds()
	if st, err := procStatus(pid); err == nil {
		r.HWM = st["VmHWM"]
	}
	r.RSSAnon, r.RSSFile = median(anon), median(file)
	r.Mapped = map[string]float64{}
	for path, v := range mappedFiles(pid) {
		if v >= 1e6 {
			r.Mapped[path] = v
		}
	}
	if len(rss) == 0 || len(heap) == 0 {
		return r, fmt.Errorf("%s: no samples of the daemon's memory", label)
	}
	r.RSS, r.RSSMax, r.HeapInuse = median(rss), slices.Max(rss), median(heap)
	d.stop()
	// Live heap after each GC in the window, from the gctrace lines; if
	// none ran in the window, the last one before it.
	b, _ := os.ReadFile(logPath)
	var live []float64
	last := math.NaN()
	winStart, winEnd := from.Sub(d.started).Seconds(), time.Since(d.started).Seconds()
	for _, line := range strings.Split(string(b), "\n") {
		if m := reGC.FindStringSubmatch(line); m != nil {
			at, _ := strconv.ParseFloat(m[1], 64)
			mb, _ := strconv.ParseFloat(m[4], 64)
			switch {
			case at >= winStart && at <= winEnd:
				live = append(live, mb*(1<<20))
			case at < winStart:
				last = mb * (1 << 20)
			}
		}
	}
	r.GCs = len(live)
	r.LiveHeap = median(live)
	if len(live) == 0 {
		r.LiveHeap = last
	}
	for path, v := range r.Mapped {
		logf("  RSS of %s: %s", path, mb(v))
	}
	logf("%s, %s: RSS %s, heap in use %s, live heap %s (%d GCs in the window), peak RSS %s, CPU %.3f cores", label, cfg.name,
		mb(r.RSS), mb(r.HeapInuse), mb(r.LiveHeap), r.GCs, mb(r.HWM), r.CPU)
	return r, nil
}

func printMemory(rs []memResult) {
	for _, cfg := range memoryConfigs {
		var mine []memResult
		for _, r := range rs {
			if r.Config == cfg.name {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		fmt.Printf("\nnodewatch run — memory, %s: a fresh daemon per scale, settled, then sampled every 2 s\n", cfg.name)
		fmt.Printf("%-24s %8s %7s %9s %9s %9s %9s %9s %9s %4s %9s %6s\n", "scale", "objects", "ready",
			"RSS", "anon", "file", "RSS max", "heap use", "live heap", "GCs", "peak RSS", "CPU")
		for _, r := range mine {
			fmt.Printf("%-24s %8d %6.1fs %9s %9s %9s %9s %9s %9s %4d %9s %6.3f\n", r.Label, r.Total, r.ReadyAfter,
				mb(r.RSS), mb(r.RSSAnon), mb(r.RSSFile), mb(r.RSSMax), mb(r.HeapInuse), mb(r.LiveHeap), r.GCs, mb(r.HWM), r.CPU)
		}
		base := mine[0]
		for _, r := range mine[1:] {
			n := float64(r.Total - base.Total)
			fmt.Printf("  %s: per object over the empty cluster: RSS %.0f B, anon RSS %.0f B, heap in use %.0f B, live heap %.0f B\n",
				r.Label, (r.RSS-base.RSS)/n, (r.RSSAnon-base.RSSAnon)/n, (r.HeapInuse-base.HeapInuse)/n, (r.LiveHeap-base.LiveHeap)/n)
		}
	}
	fmt.Println("RSS = anon + file (file: mapped pages of the binary and the data dir's databases); MB = 10^6 bytes")
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Label] {
			continue
		}
		seen[r.Label] = true
		keys := make([]string, 0, len(r.Objects))
		for k := range r.Objects {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Objects[k]))
		}
		fmt.Printf("objects at %s (%d): %s\n", r.Label, r.Total, strings.Join(parts, ", "))
	}
}

// countObjects counts what the daemon's informers cache.
func countObjects(ctx context.Context, c *simcluster.Cluster) (map[string]int, error) {
	cs, err := protobufClient(c)
	if err != nil {
		return nil, err
	}
	all := metav1.ListOptions{ResourceVersion: "0"} // from the watch cache
	lists := map[string]func() (runtime.Object, error){
		"nodes":       func() (runtime.Object, error) { return cs.CoreV1().Nodes().List(ctx, all) },
		"pods":        func() (runtime.Object, error) { return cs.CoreV1().Pods("").List(ctx, all) },
		"leases":      func() (runtime.Object, error) { return cs.CoordinationV1().Leases("kube-node-lease").List(ctx, all) },
		"events":      func() (runtime.Object, error) { return cs.CoreV1().Events("").List(ctx, all) },
		"replicasets": func() (runtime.Object, error) { return cs.AppsV1().ReplicaSets("").List(ctx, all) },
		"deployments": func() (runtime.Object, error) { return cs.AppsV1().Deployments("").List(ctx, all) },
		"replicationcontrollers": func() (runtime.Object, error) {
			return cs.CoreV1().ReplicationControllers("").List(ctx, all)
		},
		"statefulsets": func() (runtime.Object, error) { return cs.AppsV1().StatefulSets("").List(ctx, all) },
		"daemonsets":   func() (runtime.Object, error) { return cs.AppsV1().DaemonSets("").List(ctx, all) },
		"jobs":         func() (runtime.Object, error) { return cs.BatchV1().Jobs("").List(ctx, all) },
	}
	out := map[string]int{}
	for kind, list := range lists {
		l, err := list()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", kind, err)
		}
		out[kind] = meta.LenList(l)
	}
	return out, nil
}

// protobufClient is an admin clientset speaking protobuf, for big lists.
func protobufClient(c *simcluster.Cluster) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(cfg)
}

// ---- cluster population ----

// populate adds n nodes named prefix-i and pods in Deployments of up to 100
// replicas, 3 per namespace (numbered on from podsBefore), and waits until
// every pod in the cluster runs.
func populate(ctx context.Context, o options, c *simcluster.Cluster, prefix string, n, pods, podsBefore int) error {
	if n > 0 {
		logf("adding %d nodes", n)
		if _, err := c.AddNodes(ctx, prefix, n, simcluster.NodeSize{Pods: "110"}); err != nil {
			return err
		}
	}
	for done := 0; done < pods; {
		i := (podsBefore + done) / 100
		replicas := min(100, pods-done)
		w := simcluster.Workload{Namespace: fmt.Sprintf("bench-%03d", i/3), Name: fmt.Sprintf("app-%04d", i), Replicas: int32(replicas)}
		if i%2 == 0 {
			w.MemoryRequest, w.MemoryLimit = "64Mi", "128Mi"
		}
		if err := c.CreateDeployment(ctx, w); err != nil {
			return fmt.Errorf("creating %s/%s: %w", w.Namespace, w.Name, err)
		}
		done += replicas
	}
	want := podsBefore + pods
	logf("waiting for %d pods to run", want)
	cs, err := protobufClient(c)
	if err != nil {
		return err
	}
	start, lastLog := time.Now(), time.Now()
	err = waitFor(ctx, o.populate, func() bool {
		l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false
		}
		running := 0
		for i := range l.Items {
			if p := &l.Items[i]; p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		if time.Since(lastLog) > 30*time.Second {
			logf("  %d/%d pods running after %s", running, want, time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		if running >= want {
			logf("  %d pods running after %s", running, time.Since(start).Round(time.Second))
		}
		return running >= want
	}, 5*time.Second)
	return err
}

// ---- helpers ----

// waitFor polls cond (every 100 ms, or the given interval) until it holds.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool, every ...time.Duration) error {
	interval := 100 * time.Millisecond
	if len(every) > 0 {
		interval = every[0]
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

type row struct {
	name string
	xs   []float64
}

func printRows(rows []row) {
	fmt.Printf("%-46s %4s %9s %9s %9s %9s %9s %9s\n", "measure", "n", "min", "p50", "p90", "p99", "max", "mean")
	for _, r := range rows {
		if len(r.xs) == 0 {
			fmt.Printf("%-46s %4d\n", r.name, 0)
			continue
		}
		fmt.Printf("%-46s %4d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", r.name, len(r.xs),
			slices.Min(r.xs), pct(r.xs, 50), pct(r.xs, 90), pct(r.xs, 99), slices.Max(r.xs), mean(r.xs))
	}
}

// pct is the nearest-rank percentile.
func pct(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func mb(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }

func pick(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func cmpDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench/run: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s/%s", goruntime.NumCPU(), model, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
}

func reproduce() string {
	args := []string{"go", "run", "./bench/run"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \"'$") {
			a = strconv.Quote(a)
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

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
	var args []string
	if o.groupWindow != "" {
		args = append(args, "--group-window", o.groupWindow)
	}
	args = append(args, strings.Fields(o.daemonArgs)...)
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
	b, err := os.ReadFile(path) //nolint:gosec // G304: the daemon's log this harness wrote
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
		window := "--group-window " + o.groupWindow
		if o.groupWindow == "" {
			window = "default configuration: --group-window 30s, one failure per window"
		}
		fmt.Printf("\nnodewatch run — detection latency (NodeNotReady, %s), %d failures on %d nodes / %d pods, controller grace %s\n",
			window, len(r.Failures), r.Nodes, r.Pods, r.Grace)
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
	if s, n := r.Metrics[`nodewatch_detection_latency_seconds_sum{sink="slack"}`], r.Metrics[`nodewatch_detection_latency_seconds_count{sink="slack"}`]; n > 0 {
		fmt.Printf("daemon's own nodewatch_detection_latency_seconds (from lastTransitionTime): mean %.3f s over %.0f\n", s/n, n)
	}
	fmt.Printf("messages accepted by the receiver: %d; failed sends (daemon metrics): %.0f\n",
		len(r.Arrivals), r.Metrics[`nodewatch_notifications_failed_total{permanent="false",sink="slack"}`]+r.Metrics[`nodewatch_notifications_failed_total{permanent="true",sink="slack"}`])
}

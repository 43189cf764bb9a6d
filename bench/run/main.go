// Command run benchmarks the daemon, `nodewatch run`, on the real simulated
// cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok, from internal/simcluster), with the Slack-contract receiver of
// internal/notify/slack/slacktest standing in for Slack. The results are in
// BENCHMARKS.md; bench/run.sh runs every scenario.
//
// Scenarios (-scenario):
//
//	latency  Detection latency in the default configuration (-group-window
//	         sets another): nodes stop heartbeating (one per round by default,
//	         each the first of its grouping window; with -group-window 0
//	         several per round, failed right after a Lease renewal and
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
//	go run ./bench/run -scenario latency -failures 50
//	go run ./bench/run -scenario latency -failures 100 -group-window 0
//	go run ./bench/run -scenario early -failures 100
//	go run ./bench/run -scenario memory -nodes 1000 -pods 30000 -steps 4
//
// It prints a table (p50/p90/p99/max; p99 is the nearest rank, so below 100
// samples it is the largest) and the command that reproduces it, and with
// -out DIR writes the raw samples to DIR/<scenario>.json. Every process it
// starts is stopped when it ends, also on SIGINT.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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
	groupWindow     string
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
	flag.StringVar(&o.groupWindow, "group-window", "", "latency/early: nodewatch run's --group-window (default: the daemon's own, 30s)")
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "parallel" })
	if o.scenario == "latency" && !parallelSet && o.groupWindow != "0" {
		// With grouping on, only a window's first failure goes at once:
		// one failure per round, each round longer than the window.
		o.parallel = 1
	}
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
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/nodewatch") //nolint:gosec // G204: builds into the harness's own output path
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
	v, _ := exec.Command(bin, "version").Output() //nolint:gosec // G204: the binary this harness built
	fmt.Printf("\nnodewatch: %s\nmachine: %s\nreproduce: %s\n", strings.TrimSpace(string(v)), machine(), reproduce())
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o750); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(result, "", "  ")
		path := filepath.Join(o.out, o.scenario+".json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
		fmt.Printf("raw samples: %s\n", path)
	}
	return nil
}

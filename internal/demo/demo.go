// Package demo replays the outage from the story that defines nodewatch's
// users, end to end, on the simulated cluster: four 8 GiB nodes run the
// company's web tier, syncers, consumers and cron jobs, and the
// unanswered-emails ReplicationController, whose JVM leaks and has no
// memory limit. nodewatch run watches and scrapes the cluster and serves
// its dashboard. A harness plays the kernel: when a node's pods need more
// memory than it has, the node thrashes and stops answering; later it comes
// back. The demo shows the alerts as the daemon sends them (each with its
// likely cause), then what the story's team never had: nodewatch check,
// incidents, suspects, explain and recommend, all pointing at the culprit.
//
// Everything runs in child processes in their own process groups, killed
// by the kernel should the demo die (Pdeathsig); Run stops them all and
// removes its working directory when it returns, including on Ctrl-C.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// Options configure a run.
type Options struct {
	Nodewatch string // path of the nodewatch binary
	// Keep keeps the cluster, the daemon and the harness running after the
	// story until ctx ends (Ctrl-C).
	Keep bool
	Out  io.Writer
}

// Waits of the story, generous for 2 busy cores.
const (
	firstFailureWithin = 5 * time.Minute
	alertWithin        = 2 * time.Minute
	recoveryWithin     = 3 * time.Minute
	// graceperiod is the node lifecycle controller's: longer than
	// nodewatch's early warning (3 missed heartbeats of 10 s), shorter than
	// the real default of 50 s.
	gracePeriod = 40 * time.Second
)

// Run plays the demo and stops everything it started.
func Run(ctx context.Context, o Options) (err error) {
	bin, err := filepath.Abs(o.Nodewatch)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the nodewatch binary: %w (build it with make build)", err)
	}
	p := &printer{w: o.Out}
	dir, err := os.MkdirTemp("", "nodewatch-demo-")
	if err != nil {
		return err
	}
	// The story's header: write errors are dropped as the printer's are.
	_, _ = fmt.Fprintf(o.Out, "nodewatch demo: the story of the unresponsive nodes, replayed on a simulated cluster (about 5 minutes; Ctrl-C stops it).\n")
	_, _ = fmt.Fprintf(o.Out, "Working directory: %s (removed at the end)\n", dir)
	defer func() {
		if err != nil && !errors.Is(err, context.Canceled) {
			if b, rerr := os.ReadFile(filepath.Join(dir, "nodewatch.log")); rerr == nil && len(b) > 0 { //nolint:gosec // G304: the demo's own temporary directory
				p.say("The end of nodewatch's log, for the error below")
				p.line("%s", lastLines(string(b), 30))
			}
		}
		_ = os.RemoveAll(dir)
		p.line("removed %s", dir)
	}()

	p.say("Starting the simulated cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok for %d kubelets", nodeCount)
	t0 := time.Now()
	c, err := simcluster.Start(ctx, simcluster.Options{Dir: filepath.Join(dir, "cluster"), NodeMonitorGracePeriod: gracePeriod})
	if err != nil {
		return err
	}
	defer func() {
		p.say("Stopping the simulated cluster")
		c.Stop()
	}()
	if err := c.ApplyUsage(ctx); err != nil {
		return err
	}
	nodes, err := c.AddNodes(ctx, "node", nodeCount, simcluster.NodeSize{Memory: nodeMemory})
	if err != nil {
		return err
	}
	p.line("%d nodes of %s Ready after %s: %s", len(nodes), nodeMemory, time.Since(t0).Round(time.Second), strings.Join(nodes, " "))

	p.say("Starting nodewatch run: it watches the cluster and scrapes every kubelet every 5 s")
	d, err := startDaemon(ctx, bin, c.Kubeconfig, dir)
	if err != nil {
		return err
	}
	defer func() {
		p.say("Stopping nodewatch run")
		d.stop()
	}()
	p.setStart(time.Now())
	box(p, "Dashboard: "+d.URL()+"/", "nodes, memory charts, incidents and the culprit; open it now and watch")
	p.line("%s %s", o.Nodewatch, strings.Join(d.args, " "))
	p.line("(short windows, so that minutes of history do; its log: %s)", d.logPath)
	if os.Getenv("NODEWATCH_SLACK_WEBHOOK") != "" {
		p.line("NODEWATCH_SLACK_WEBHOOK is set: the alerts go to Slack too")
	} else {
		p.line("Set NODEWATCH_SLACK_WEBHOOK to get the alerts in Slack too; here they come from nodewatch's log.")
	}
	b := newBoard()
	b.dead = d.done
	bg, stopBg := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopBg()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := tail(bg, d.logPath, func(a alert) {
			p.alert(a)
			b.update(func() { b.alerts = append(b.alerts, a) })
		})
		if err != nil {
			p.event("reading nodewatch's log: %v", err)
		}
	}()

	p.say("Deploying the company's jobs (every one with memory requests and limits but one)")
	p.line("%s", companyTable())
	for _, j := range company {
		if err := j.create(ctx, c); err != nil {
			return err
		}
	}
	for _, j := range company {
		if j.Kind == kindCronJob {
			continue
		}
		if err := c.WaitPodsRunning(ctx, j.Workload, int(j.Replicas)); err != nil {
			return err
		}
	}
	cli := &cli{bin: bin, shown: o.Nodewatch, kubeconfig: c.Kubeconfig, server: d.URL(), p: p}
	p.say("nodewatch check, while all is well (KUBECONFIG=%s)", c.Kubeconfig)
	if err := cli.run(ctx, "check"); err != nil {
		return err
	}

	p.say("The leak: %s has no memory limit and grows %d MiB a minute on nodes of %s", culprit, leakMiBPerMin, nodeMemory)
	p.line(`When a node's pods need more memory than it has, the harness makes it thrash (its major
page faults climb) and then stop answering, as the story's nodes did; %s later it comes back.
Pods on an unreachable node are evicted after %d s and start again elsewhere, the leak with them.
(The story took weeks: here the leak is over 100 times faster, and the windows nodewatch judges are short.)
Alerts appear as nodewatch sends them; the clock counts from its start.`, downFor, evictAfter)
	h := newHarness(c, p, b)
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.run(bg)
	}()

	if err := b.wait(ctx, firstFailureWithin, "a node to run out of memory", func() bool { return len(b.failed) > 0 }); err != nil {
		return err
	}
	// Every node failed, or failing, by the time the alerts for the first
	// arrive.
	var down []string
	err = b.wait(ctx, alertWithin+gracePeriod+thrashFor, "the alerts for the failed nodes", func() bool {
		down = b.failedNodes()
		return len(b.thrashing) == 0 && !slices.ContainsFunc(down, func(n string) bool { return !b.alertedDown(n) })
	})
	if err != nil {
		return err
	}

	p.say("nodewatch check: the team's cron job, done right — the nodes that went down and the pods that were on them")
	if err := cli.run(ctx, "check"); err != nil {
		return err
	}

	p.say("Waiting for %s to come back (the harness brings failed nodes back after %s)", strings.Join(down, " and "), downFor)
	err = b.wait(ctx, recoveryWithin, "the failed nodes to come back", func() bool {
		return !slices.ContainsFunc(down, func(n string) bool { _, ok := b.recovered[n]; return !ok })
	})
	if err != nil {
		return err
	}
	waitEvicted(ctx, c, down)

	var errs []error
	report := func(title string, args ...string) {
		p.say("%s", title)
		if err := cli.run(ctx, args...); err != nil {
			errs = append(errs, err)
		}
	}
	report("nodewatch incidents: every incident, with its likely cause", "incidents", "--nodewatch-url", cli.server)
	report("nodewatch suspects: which workload is tied to the failures", "suspects", "--nodewatch-url", cli.server,
		"--since", "15m", "--min-history", "1m", "--min-samples", "12") // minutes of history, not the default hour
	report("nodewatch explain node "+down[0]+": its timeline, the likely cause, its pods' memory and its page faults",
		"explain", "node", down[0], "--nodewatch-url", cli.server, "--since", "10m")
	report("nodewatch recommend: requests and limits from the history; the leak is flagged, not sized",
		"recommend", "-A", "--nodewatch-url", cli.server, "--since", "15m", "--min-history", "1m", "--min-samples", "12")
	if err := errors.Join(errs...); err != nil {
		return err
	}

	p.say("What the team never had")
	p.line(`The alerts named %s as the likely cause of each node's failure, with its
growth, its missing memory limit and the page faults; suspects ranks it first. The story's fix: a memory
limit and request on every controller (nodewatch audit finds those missing; recommend sizes them once
the leak is fixed).`, culprit)
	if !o.Keep {
		p.line("The dashboard was at %s/. To explore it after the story: go run ./hack/demo --nodewatch %s --keep", d.URL(), o.Nodewatch)
		return nil
	}
	p.say("Everything keeps running until Ctrl-C; the leak goes on, and so do the failures")
	p.line(`Dashboard:  %[1]s/   (incidents: %[1]s/incidents, the node: %[1]s/nodes/%[2]s)
CLI:        export KUBECONFIG=%[3]s
            %[4]s incidents --nodewatch-url %[1]s
            %[4]s suspects --nodewatch-url %[1]s
            %[4]s explain node %[2]s --nodewatch-url %[1]s --since 15m
            %[4]s recommend -A --nodewatch-url %[1]s --since 15m --min-history 1m --min-samples 12
            %[4]s top pods -A --nodewatch-url %[1]s
            kubectl get nodes,pods -A -o wide`, d.URL(), down[0], c.Kubeconfig, o.Nodewatch)
	<-ctx.Done()
	return nil
}

// waitEvicted waits (a little) until the pods evicted from the recovered
// nodes are gone: suspects counts the nodes each workload runs on now.
func waitEvicted(ctx context.Context, c *simcluster.Cluster, nodes []string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = c.Wait(ctx, "evicted pods gone", func(ctx context.Context) (bool, error) {
		for _, n := range nodes {
			pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n})
			if err != nil {
				return false, err
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// cli runs nodewatch commands against the cluster and the daemon and shows
// them with their output.
type cli struct {
	bin, shown, kubeconfig, server string
	p                              *printer
}

// run shows `nodewatch args...` and its output; exit status 1 (problems
// found) is an expected outcome here, 2 an error.
func (c *cli) run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...) //nolint:gosec // G204: the nodewatch binary the demo was given, with the story's arguments
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	c.p.block(fmt.Sprintf("$ %s %s", c.shown, strings.Join(args, " ")), string(out))
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		c.p.line("(exit status 1: problems found)")
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("nodewatch %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// box frames the dashboard's address so that it stands out.
func box(p *printer, lines ...string) {
	w := 0
	for _, l := range lines {
		w = max(w, len([]rune(l)))
	}
	var s strings.Builder
	s.WriteString("+" + strings.Repeat("-", w+4) + "+\n")
	for _, l := range lines {
		s.WriteString("|  " + l + strings.Repeat(" ", w-len([]rune(l))) + "  |\n")
	}
	s.WriteString("+" + strings.Repeat("-", w+4) + "+")
	p.line("%s", s.String())
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

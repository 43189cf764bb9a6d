// Package demo replays the outage from the story that defines nodewatch's
// users on the simulated cluster: a small cluster runs a web tier, syncers
// and the unanswered-emails consumer (a ReplicationController without a
// memory limit); a node stops reporting; nodewatch says which node went
// down and which pods were on it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// Options configure a run.
type Options struct {
	Nodewatch string // path of the nodewatch binary
	Keep      bool   // keep the cluster until ctx ends
	Out       io.Writer
}

// Workloads of the story's company.
var workloads = []struct {
	simcluster.Workload
	rc bool
}{
	{simcluster.Workload{Namespace: "web", Name: "frontend", Replicas: 4, MemoryRequest: "256Mi", MemoryLimit: "512Mi"}, false},
	{simcluster.Workload{Namespace: "sync", Name: "email-syncer", Replicas: 2, MemoryRequest: "128Mi", MemoryLimit: "256Mi"}, false},
	{simcluster.Workload{Namespace: "emails", Name: "unanswered-emails", Replicas: 2}, true},
}

// Run plays the demo and tears the cluster down.
func Run(ctx context.Context, o Options) error {
	say := func(format string, a ...any) { fmt.Fprintf(o.Out, "\n==> "+format+"\n", a...) }
	say("Starting the simulated cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
	c, err := simcluster.Start(ctx, simcluster.Options{})
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the simulated cluster (logs were in %s)", c.Dir())
		c.Stop()
		_ = os.RemoveAll(c.Dir())
	}()
	nodes, err := c.AddNodes(ctx, "node", 3, simcluster.NodeSize{Memory: "8Gi"})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "    3 nodes Ready: %v\n", nodes)
	for _, w := range workloads {
		if w.rc {
			err = c.CreateReplicationController(ctx, w.Workload)
		} else {
			err = c.CreateDeployment(ctx, w.Workload)
		}
		if err != nil {
			return err
		}
	}
	for _, w := range workloads {
		if err := c.WaitPodsRunning(ctx, w.Workload, int(w.Replicas)); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "    %s/%s: %d pods Running\n", w.Namespace, w.Name, w.Replicas)
	}

	say("nodewatch check, while all is well")
	if err := nodewatch(ctx, o, c, "check"); err != nil {
		return err
	}

	victim := nodes[1]
	say("%s stops reporting (its kubelet heartbeats stop); the node lifecycle controller will mark it Unknown in about 20 s", victim)
	if err := c.FailNode(ctx, victim); err != nil {
		return err
	}
	start := time.Now()
	if err := c.WaitNodeReady(ctx, victim, "Unknown"); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "    %s is Unknown after %s\n", victim, time.Since(start).Round(time.Second))

	args := []string{"check"}
	if os.Getenv("NODEWATCH_SLACK_WEBHOOK") != "" {
		args = append(args, "--notify")
		fmt.Fprintln(o.Out, "    NODEWATCH_SLACK_WEBHOOK is set: the report goes to Slack too")
	}
	say("nodewatch %v", args)
	if err := nodewatch(ctx, o, c, args...); err != nil {
		return err
	}

	if o.Keep {
		say("The cluster keeps running; try: %s check --kubeconfig %s. Ctrl-C stops it.", o.Nodewatch, c.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}

// nodewatch runs the binary against the cluster; exit 1 (problems found) is
// an expected outcome here.
func nodewatch(ctx context.Context, o Options, c *simcluster.Cluster, args ...string) error {
	cmd := exec.CommandContext(ctx, o.Nodewatch, append(args, "--kubeconfig", c.Kubeconfig)...)
	cmd.Stdout, cmd.Stderr = o.Out, o.Out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		fmt.Fprintln(o.Out, "    (exit status 1: problems found)")
		return nil
	}
	return err
}

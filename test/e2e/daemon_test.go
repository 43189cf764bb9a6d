package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// daemon is a `nodewatch run` process.
type daemon struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	logPath string
	done    chan struct{}
}

// startDaemon runs `nodewatch run` and waits until it is ready.
func startDaemon(t *testing.T, kubeconfig, dataDir string, env []string, args ...string) *daemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	logf, err := os.CreateTemp(t.TempDir(), "nodewatch-*.log")
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"run", "--kubeconfig", kubeconfig, "--data-dir", dataDir, "--listen", addr}, args...)
	cmd := exec.Command(nodewatchBin, all...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, cmd: cmd, addr: addr, logPath: logf.Name(), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(d.done) }()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			b, _ := os.ReadFile(d.logPath)
			t.Logf("nodewatch log (%s):\n%s", filepath.Base(d.logPath), tail(b, 8000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.logPath)
			t.Fatalf("nodewatch run exited:\n%s", tail(b, 4000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("nodewatch run not ready after 60s")
		}
	}
}

// kill sends SIGKILL: no chance to flush anything.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.t.Error("nodewatch did not stop within 15s of SIGTERM")
		d.kill()
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Errorf("nodewatch exited %d after SIGTERM, want 0", code)
	}
}

// queued reads nodewatch_notifications_queued for a sink from /metrics
// (-1 if unreadable).
func (d *daemon) queued(sink string) int {
	return int(d.metric(`nodewatch_notifications_queued{sink="` + sink + `"}`))
}

// metric reads one series' value from /metrics, named as exposed with its
// labels (-1 if absent).
func (d *daemon) metric(name string) float64 {
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// header is a Slack message's header text.
func header(m slacktest.Message) string {
	if len(m.Blocks) > 0 && m.Blocks[0].Text != nil {
		return m.Blocks[0].Text.Text
	}
	return m.Text
}

// waitMessage waits for a message whose header contains every part.
func waitMessage(t *testing.T, ctx context.Context, rx *slacktest.Receiver, timeout time.Duration, parts ...string) slacktest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		for _, m := range rx.Messages() {
			h := header(m)
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(h, p)
			}
			if ok {
				return m
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no message with %q within %s; got %s", parts, timeout, headers(rx))
		case <-rx.Arrived():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// count counts messages whose header contains every part.
func count(rx *slacktest.Receiver, parts ...string) int {
	n := 0
	for _, m := range rx.Messages() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(header(m), p)
		}
		if ok {
			n++
		}
	}
	return n
}

func headers(rx *slacktest.Receiver) string {
	var b bytes.Buffer
	for i, m := range rx.Messages() {
		fmt.Fprintf(&b, "\n  %d: %s", i, header(m))
	}
	return b.String()
}

// deploy creates the Deployments and waits until all their pods run.
func deploy(t *testing.T, ctx context.Context, c *simcluster.Cluster, workloads ...simcluster.Workload) {
	t.Helper()
	for _, w := range workloads {
		if err := c.CreateDeployment(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range workloads {
		if err := c.WaitPodsRunning(ctx, w, int(w.Replicas)); err != nil {
			t.Fatal(err)
		}
	}
}

// usageCluster starts the simulated cluster with kwok's simulated usage
// (see simcluster.ApplyUsage) and n Ready nodes named node-0 ... node-(n-1).
func usageCluster(t *testing.T, ctx context.Context, o simcluster.Options, n int, size simcluster.NodeSize) (*simcluster.Cluster, []string) {
	t.Helper()
	c := simcluster.StartForTest(t, o)
	if err := c.ApplyUsage(ctx); err != nil {
		t.Fatal(err)
	}
	nodes, err := c.AddNodes(ctx, "node", n, size)
	if err != nil {
		t.Fatal(err)
	}
	return c, nodes
}

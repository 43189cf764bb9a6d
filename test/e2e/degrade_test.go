package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestRunDegrades: side work and damaged state never stop the alerts.
//   - A --prometheus-url that answers only after 10 s: the node's alert
//     still comes at once (the likely cause is looked for off the
//     detection path).
//   - A corrupt TSDB block: nodewatch runs without its history, says so
//     (NodewatchHistoryUnavailable) and alerts as usual.
//   - A receiver that refuses one message forever: later messages are
//     delivered all the same.
//   - A corrupt nodewatch.db: a clear error naming the file and what to
//     do, exit 2, no panic; a fresh --data-dir runs.
func TestRunDegrades(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := simcluster.StartForTest(t, simcluster.Options{NodeMonitorGracePeriod: 20 * time.Second})
	nodes, err := c.AddNodes(ctx, "node", 4, simcluster.NodeSize{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("corrupt state file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "nodewatch.db")
		junk := []byte(strings.Repeat("not a bbolt page ", 4096))
		if err := os.WriteFile(path, junk, 0o600); err != nil {
			t.Fatal(err)
		}
		r := nodewatch(t, ctx, nil, nil, "run", "--kubeconfig", c.Kubeconfig, "--data-dir", dir, "--listen", "127.0.0.1:0")
		if r.code != 2 {
			t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
		}
		for _, want := range []string{path + " is corrupt", "mv " + path + " " + path + ".corrupt"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "panic") {
			t.Errorf("nodewatch panicked:\n%s", r.stderr)
		}
	})

	t.Run("slow prometheus", func(t *testing.T) {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
			http.Error(w, "slow", http.StatusServiceUnavailable)
		}))
		defer slow.Close()
		rx := slacktest.New()
		defer rx.Close()
		d := startDaemon(t, c.Kubeconfig, t.TempDir(), []string{"NODEWATCH_SLACK_WEBHOOK=" + rx.URL}, "--prometheus-url", slow.URL)
		victim := nodes[0]
		if err := c.FailNode(ctx, victim); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitNodeReady(ctx, victim, "Unknown"); err != nil {
			t.Fatal(err)
		}
		verdict := time.Now()
		waitMessage(t, ctx, rx, 60*time.Second, victim+" is down")
		if took := time.Since(verdict); took > 5*time.Second {
			t.Errorf("the alert came %s after the verdict with a Prometheus answering in 10 s; it must not wait for the history", took.Round(time.Millisecond))
		}
		if err := c.RecoverNode(ctx, victim); err != nil {
			t.Fatal(err)
		}
		d.stop()
	})

	t.Run("corrupt history and a refused message", func(t *testing.T) {
		dir := t.TempDir()
		block := filepath.Join(dir, "tsdb", "01JZZZZZZZZZZZZZZZZZZZZZZZ")
		if err := os.MkdirAll(filepath.Join(block, "chunks"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(block, "meta.json"), []byte(`{"ulid":"01JZZZZZZZZZZZZZZZZZZZZZZZ","minTime":0,"maxTime":7200000,"version":1}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(block, "index"), []byte("a damaged index"), 0o644); err != nil {
			t.Fatal(err)
		}
		rx := slacktest.New()
		defer rx.Close()
		refused, later := nodes[1], nodes[2]
		rx.Refuse("*"+refused+"*", slacktest.Fault{Status: 500}) // every message naming it, forever
		d := startDaemon(t, c.Kubeconfig, dir, []string{"NODEWATCH_SLACK_WEBHOOK=" + rx.URL}, "--kubelet-insecure-tls")
		waitMessage(t, ctx, rx, 30*time.Second, "cannot open its resource history")
		if err := c.FailNode(ctx, refused); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitNodeReady(ctx, refused, "Unknown"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, 30*time.Second, "the receiver to refuse "+refused+"'s alert", func() bool { return rx.Rejected() > 0 })
		if err := c.FailNode(ctx, later); err != nil {
			t.Fatal(err)
		}
		waitMessage(t, ctx, rx, 90*time.Second, later+" is down")
		if n := count(rx, refused+" is down"); n != 0 {
			t.Errorf("the refused message was delivered %d times", n)
		}
		if !strings.Contains(d.log(), "alerting without it") {
			t.Error("the log does not say the daemon runs without its history")
		}
		d.stop()
	})
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

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
		took := time.Since(verdict)
		t.Logf("the alert came %s after the controller's verdict (polled every 250 ms), the Prometheus answering in 10 s", took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("the alert came %s after the verdict with a Prometheus answering in 10 s; it must not wait for the history", took.Round(time.Millisecond))
		}
		if err := c.RecoverNode(ctx, victim); err != nil {
			t.Fatal(err)
		}
		d.stop()
	})

	t.Run("costly query", func(t *testing.T) {
		// A page the operator visits could send this; the daemon answers
		// with Prometheus' error JSON at once and keeps its memory.
		d := startDaemon(t, c.Kubeconfig, t.TempDir(), nil, "--kubelet-insecure-tls")
		start := time.Now()
		resp, err := http.PostForm("http://"+d.addr+"/api/v1/query", url.Values{"query": {"count_over_time(vector(1)[30d:50ms])"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"errorType":"execution"`) {
			t.Errorf("answer %d %s, want 422 execution", resp.StatusCode, body)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("answered after %s, past the query timeout", took)
		}
		if rss := d.metric("process_resident_memory_bytes"); rss <= 0 || rss > 512<<20 {
			t.Errorf("daemon RSS %.0f MB after the query, want under 512", rss/(1<<20))
		} else {
			t.Logf("refused in %s; daemon RSS %.0f MB", time.Since(start).Round(time.Millisecond), rss/(1<<20))
		}
		// The same query from another site's page never runs.
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/api/v1/query", strings.NewReader("query=up"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://attacker.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site POST: %v %v, want 403", resp, err)
		} else {
			_ = resp.Body.Close()
		}
		req, _ = http.NewRequest(http.MethodGet, "http://"+d.addr+"/api/v1/incidents", nil)
		req.Host = "attacker.example"
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a foreign Host (DNS rebinding): %v %v, want 403", resp, err)
		} else {
			_ = resp.Body.Close()
		}
		d.stop()
	})

	t.Run("secrets stay out of the log", func(t *testing.T) {
		// Every sink fails, each holding a secret in its URL.
		failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no", http.StatusInternalServerError)
		}))
		defer failing.Close()
		host := strings.TrimPrefix(failing.URL, "http://")
		const secret = "S3CRETVALUE"
		env := []string{
			"NODEWATCH_SLACK_WEBHOOK=http://" + host + "/services/T0/B0/" + secret,
			"NODEWATCH_WEBHOOK_URL=http://user:" + secret + "@" + host + "/hook?token=" + secret,
			"NODEWATCH_ALERTMANAGER_URL=http://am:" + secret + "@" + host,
			"NODEWATCH_AUTH_TOKEN=" + secret,
		}
		d := startDaemon(t, c.Kubeconfig, t.TempDir(), env, "--kubelet-insecure-tls", "--scrape-interval", "2s", "--scrape-timeout", "1s",
			"--remote-write-url", "http://rw:"+secret+"@"+host+"/api/v1/write?token="+secret)
		victim := nodes[3]
		if err := c.FailNode(ctx, victim); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitNodeReady(ctx, victim, "Unknown"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, 60*time.Second, "every sink and remote write to fail", func() bool {
			l := d.log()
			for _, sink := range []string{"sink=slack", "sink=webhook", "sink=alertmanager"} {
				if !strings.Contains(l, sink) || !strings.Contains(l, "will retry") {
					return false
				}
			}
			return strings.Contains(l, "remote write failed")
		})
		if err := c.RecoverNode(ctx, victim); err != nil {
			t.Fatal(err)
		}
		d.stop()
		if n := strings.Count(d.log(), secret); n != 0 {
			for _, line := range strings.Split(d.log(), "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("a secret in the log: %s", line)
				}
			}
		}
	})

	t.Run("annotation pointing elsewhere", func(t *testing.T) {
		// A tenant who may patch Nodes points a node's metrics path at
		// its own listener; nodewatch runs with a service account token.
		var stolen, asked atomic.Int32
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			if r.Header.Get("Authorization") != "" {
				stolen.Add(1)
			}
		}))
		defer evil.Close()
		kc := tokenKubeconfig(t, ctx, c)
		victim := nodes[2]
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, "metrics.k8s.io/resource-metrics-path", "@"+strings.TrimPrefix(evil.URL, "http://")+"/x")
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, victim, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		d := startDaemon(t, kc, t.TempDir(), nil, "--kubelet-insecure-tls", "--scrape-interval", "2s", "--scrape-timeout", "1s")
		waitFor(t, ctx, 60*time.Second, "the node's scrape error", func() bool {
			return strings.Contains(d.log(), "node "+victim+": annotation metrics.k8s.io/resource-metrics-path")
		})
		time.Sleep(5 * time.Second) // two more scrape cycles
		d.stop()
		if stolen.Load() != 0 || asked.Load() != 0 {
			t.Errorf("the tenant's listener got %d requests, %d with the token", asked.Load(), stolen.Load())
		}
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

// tokenKubeconfig is the simulated cluster's kubeconfig with a service
// account's bearer token in place of its client certificate, so that
// nodewatch has a token to send to kubelets, as in a pod.
func tokenKubeconfig(t *testing.T, ctx context.Context, c *simcluster.Cluster) string {
	t.Helper()
	const manifest = `apiVersion: v1
kind: ServiceAccount
metadata: {name: nodewatch-e2e, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: nodewatch-e2e}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: nodewatch-e2e, namespace: default}]
`
	if err := c.Apply(ctx, manifest); err != nil {
		t.Fatal(err)
	}
	tok, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.Kubeconfig, "create", "token", "nodewatch-e2e", "-n", "default").Output()
	if err != nil {
		t.Fatalf("kubectl create token: %v", err)
	}
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name := range kc.AuthInfos {
		kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(string(tok))}
	}
	path := filepath.Join(t.TempDir(), "token.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

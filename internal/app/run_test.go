package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
)

func readyNode(name string, status corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastTransitionTime: metav1.Now(),
		}}},
	}
}

// TestDaemonInProcess runs the whole daemon — informers, rules, incident
// manager, outbox, Slack sink, HTTP server — on client-go's fake clientset
// with the Slack-contract receiver, in seconds: a node's Ready turns
// Unknown → the alert names the node and its pods at once; two more nodes
// follow inside the window → one follow-up; they recover → the recoveries.
func TestDaemonInProcess(t *testing.T) {
	// The fake clientset cannot stream a watch's initial events (client-go's
	// WatchListClient); the informers list and watch instead, as they do
	// against an API server without it. (The feature's environment
	// variable is read once per process: another test may have read it.)
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := fake.NewClientset()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := client.CoreV1().Nodes().Create(ctx, readyNode(n, corev1.ConditionTrue), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		now := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "kube-node-lease"},
			Spec: coordinationv1.LeaseSpec{RenewTime: &now}}
		if _, err := client.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"web-1", "unanswered-emails-x7k2p"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: p}, Spec: corev1.PodSpec{NodeName: "a"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if _, err := client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rx := slacktest.New()
	defer rx.Close()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	cfg.Slack.WebhookURL = rx.URL
	cfg.History.ScrapeInterval = 0                     // no kubelets here
	cfg.GroupWindow = config.Duration(2 * time.Second) // the default's semantics, a shorter window
	a, err := New(cfg, client, KubeletAuth{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("no %s; messages: %v", what, headers(rx))
			case err := <-done:
				t.Fatalf("the daemon stopped: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	has := func(part string) func() bool {
		return func() bool {
			for _, h := range headers(rx) {
				if strings.Contains(h, part) {
					return true
				}
			}
			return false
		}
	}
	time.Sleep(500 * time.Millisecond) // the informers' first list
	setReady := func(n string, s corev1.ConditionStatus) {
		t.Helper()
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, readyNode(n, s), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	verdict := time.Now()
	setReady("a", corev1.ConditionUnknown)
	waitFor("alert for a", has("a is down"))
	took := time.Since(verdict)
	t.Logf("a's alert %s after its Ready turned Unknown", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the first alert took %s", took)
	}
	m := rx.Messages()[0]
	for _, p := range []string{"web-1", "unanswered-emails-x7k2p"} {
		if !strings.Contains(string(m.Raw), p) {
			t.Errorf("the alert does not list pod %s", p)
		}
	}
	setReady("b", corev1.ConditionUnknown)
	setReady("c", corev1.ConditionUnknown)
	waitFor("one follow-up for b and c", has("2 more nodes down: b, c"))
	for _, n := range []string{"a", "b", "c"} {
		setReady(n, corev1.ConditionTrue)
	}
	waitFor("the recoveries", has("3 nodes recovered: a, b, c"))
	if n := len(rx.Messages()); n != 3 {
		t.Errorf("%d messages, want 3: %v", n, headers(rx))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func headers(rx *slacktest.Receiver) []string {
	var out []string
	for _, m := range rx.Messages() {
		h := m.Text
		if len(m.Blocks) > 0 && m.Blocks[0].Text != nil {
			h = m.Blocks[0].Text.Text
		}
		out = append(out, h)
	}
	return out
}

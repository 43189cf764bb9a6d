package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
)

var at = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func i64(v int64) *int64 { return &v }

func message(nodes, podsPerNode int) *notify.Message {
	since := at.Add(-90 * time.Second)
	m := &notify.Message{Key: "k", Title: fmt.Sprintf("%d of 12 nodes not Ready", nodes), At: at}
	for i := range nodes {
		n := health.NodeReport{
			Name: fmt.Sprintf("ip-172-20-1-%d", i), Ready: "Unknown", Reason: "NodeStatusUnknown",
			Message: "Kubelet stopped posting node status.", Since: &since, Problems: []string{"NotReady"},
		}
		for j := range podsPerNode {
			n.Pods = append(n.Pods, health.PodReport{
				Namespace: "emails", Name: fmt.Sprintf("unanswered-emails-%03d", j), Owner: cluster.Owner{Kind: "ReplicationController", Name: "unanswered-emails"},
				Phase: "Running", QOS: "BestEffort", Restarts: int32(j % 3),
			})
		}
		m.Nodes = append(m.Nodes, n)
	}
	return m
}

func TestRenderGolden(t *testing.T) {
	m := message(1, 2)
	m.Nodes[0].Pods[0].MemoryRequest, m.Nodes[0].Pods[0].MemoryLimit = i64(256<<20), i64(512<<20)
	m.Unschedulable = []health.PodReport{{Namespace: "web", Name: "frontend-x", Owner: cluster.Owner{Kind: "Deployment", Name: "frontend"},
		Message: "0/3 nodes are available: 3 Insufficient memory."}}
	golden.JSON(t, "node-down.json", Render(m))
}

// TestRenderLimits: however large the outage, the message fits Slack's
// limits, and what is cut is counted, not silently dropped.
func TestRenderLimits(t *testing.T) {
	cases := []struct {
		name               string
		nodes, pods        int
		wantMoreNodes      bool
		wantMorePodsInText bool
	}{
		{"one node, few pods", 1, 3, false, false},
		{"one node, 500 pods", 1, 500, false, true},
		{"100 nodes down", 100, 40, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(Render(message(tc.nodes, tc.pods)))
			if err != nil {
				t.Fatal(err)
			}
			var m slacktest.Message
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if err := slacktest.Validate(&m); err != nil {
				t.Fatalf("over Slack's limits: %v", err)
			}
			s := string(raw)
			if got := strings.Contains(s, "more nodes with problems"); got != tc.wantMoreNodes {
				t.Errorf("'more nodes' note present=%v, want %v", got, tc.wantMoreNodes)
			}
			if got := strings.Contains(s, "…and "); got != (tc.wantMorePodsInText || tc.wantMoreNodes) {
				t.Errorf("'and N more' present=%v", got)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	m := message(1, 1)
	m.Nodes[0].Message = "<!channel> & <https://evil.example|click>"
	text := Render(m).Blocks.BlockSet[1].(*slackapi.SectionBlock).Text.Text
	if strings.Contains(text, "<!channel>") || !strings.Contains(text, "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;") {
		t.Errorf("mrkdwn control characters not escaped: %s", text)
	}
}

func TestNotifyErrors(t *testing.T) {
	rx := slacktest.New()
	defer rx.Close()
	n, err := New(rx.URL+"/services/T/B/secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		fault     slacktest.Fault
		retry     bool
		throttled time.Duration
	}{
		{slacktest.Fault{Status: 429, RetryAfter: "7"}, true, 7 * time.Second},
		{slacktest.Fault{Status: 500}, true, 0},
		{slacktest.Fault{Status: 400}, false, 0},
		{slacktest.Fault{Status: 410}, false, 0},
	}
	for _, tc := range cases {
		rx.FailNext(tc.fault)
		retry, err := n.Notify(context.Background(), message(1, 1))
		if err == nil || retry != tc.retry || strings.Contains(err.Error(), "secret") {
			t.Errorf("status %d: retry=%v err=%v; want retry=%v, an error without the secret", tc.fault.Status, retry, err, tc.retry)
		}
		if d, ok := notify.RetryAfter(err); ok != (tc.throttled > 0) || d != tc.throttled {
			t.Errorf("status %d: RetryAfter=%v,%v want %v", tc.fault.Status, d, ok, tc.throttled)
		}
	}
	if _, err := n.Notify(context.Background(), message(1, 1)); err != nil || len(rx.Messages()) != 1 {
		t.Errorf("healthy receiver: err %v, %d messages", err, len(rx.Messages()))
	}
	// A hanging or unreachable receiver is a retryable error, not a hang.
	rx.Close()
	if retry, err := n.Notify(context.Background(), message(1, 1)); err == nil || !retry || strings.Contains(err.Error(), "secret") {
		t.Errorf("closed receiver: retry=%v err=%v", retry, err)
	}
	if _, err := New("ftp://x/y", nil); err == nil {
		t.Error("ftp URL accepted")
	}
}

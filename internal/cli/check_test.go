package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
)

func TestCheckDumpGolden(t *testing.T) {
	for _, format := range []string{"text", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, nil, "", "check", "-f", "testdata/outage.json", "-o", format)
			if code != ExitFindings {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitFindings, errOut)
			}
			golden.Assert(t, "check-outage."+format, []byte(out))
		})
	}
}

func TestCheckJSONSchema(t *testing.T) {
	out, _, _ := run(t, nil, "", "check", "-f", "testdata/outage.json", "-o", "json")
	var r health.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Healthy || len(r.Nodes) != 2 {
		t.Fatalf("healthy=%v nodes=%d, want unhealthy with 2 problem nodes", r.Healthy, len(r.Nodes))
	}
	down := r.Nodes[0]
	if down.Name != "ip-172-20-1-11" || down.Ready != "Unknown" || down.Reason != "NodeStatusUnknown" {
		t.Errorf("first node %s ready=%s reason=%s", down.Name, down.Ready, down.Reason)
	}
	owners := map[string]string{}
	for _, p := range down.Pods {
		owners[p.Name] = p.Owner.Kind + "/" + p.Owner.Name
	}
	want := map[string]string{
		"frontend-7d9f8b6c4d-abcde": "Deployment/frontend",
		"unanswered-emails-x7k2p":   "ReplicationController/unanswered-emails",
		"syncer-28874520-q9z8w":     "CronJob/syncer",
		"node-exporter-4xv9m":       "DaemonSet/node-exporter",
	}
	if len(owners) != len(want) {
		t.Errorf("pods on the down node: %v, want %v (the Succeeded pod excluded)", owners, want)
	}
	for pod, o := range want {
		if owners[pod] != o {
			t.Errorf("pod %s owner %q, want %q", pod, owners[pod], o)
		}
	}
	pressured := r.Nodes[1]
	if strings.Join(pressured.Problems, ",") != "MemoryPressure,Cordoned" {
		t.Errorf("second node problems %v, want MemoryPressure,Cordoned", pressured.Problems)
	}
	if len(r.Unschedulable) != 1 || !strings.Contains(r.Unschedulable[0].Message, "Insufficient memory") {
		t.Errorf("unschedulable = %+v", r.Unschedulable)
	}
}

func TestCheckExitCodes(t *testing.T) {
	healthy := `{"kind":"NodeList","apiVersion":"v1","items":[{"metadata":{"name":"a"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}]}
{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"p","namespace":"d"},"spec":{"nodeName":"a","containers":[{"name":"c"}]},"status":{"phase":"Running"}}]}`
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"healthy separate lists", healthy, []string{"check", "-f", "-"}, ExitOK, ""},
		{"problems", "", []string{"check", "-f", "testdata/outage.json"}, ExitFindings, ""},
		{"missing file", "", []string{"check", "-f", "testdata/nope.json"}, ExitError, "nope.json"},
		{"truncated", `{"kind":"List","items":[{"kind":"Node","metadata":{"name":"a"`, []string{"check", "-f", "-"}, ExitError, "truncated"},
		{"bad format", "", []string{"check", "-f", "testdata/outage.json", "-o", "xml"}, ExitError, `unknown output format "xml"`},
		{"notify without webhook", "", []string{"check", "-f", "testdata/outage.json", "--notify"}, ExitError, "NODEWATCH_SLACK_WEBHOOK"},
		{"unreachable cluster", "", []string{"check", "--kubeconfig", "testdata/unreachable.kubeconfig", "--request-timeout", "2s"}, ExitError, "listing nodes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, nil, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d stderr %q, want exit %d and stderr containing %q", code, errOut, tc.code, tc.stderr)
			}
		})
	}
}

func TestCheckNotifySlack(t *testing.T) {
	rx := slacktest.New()
	defer rx.Close()
	rx.FailNext(slacktest.Fault{Status: 429, RetryAfter: "0"}, slacktest.Fault{Status: 503})
	_, errOut, code := run(t, map[string]string{EnvSlackWebhook: rx.URL}, "", "check", "-f", "testdata/outage.json", "--notify", "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	msgs := rx.Messages()
	if len(msgs) != 1 || rx.Rejected() != 2 {
		t.Fatalf("accepted %d (want 1) after %d rejections (want 2)", len(msgs), rx.Rejected())
	}
	if !strings.Contains(string(msgs[0].Raw), "unanswered-emails-x7k2p") {
		t.Errorf("message lacks the pod on the down node: %s", msgs[0].Raw)
	}
	if strings.Contains(errOut, rx.URL) {
		t.Errorf("the webhook URL leaked into the log: %s", errOut)
	}

	// Healthy: nothing is sent.
	healthy, _ := os.ReadFile("testdata/healthy.json")
	_, _, code = run(t, map[string]string{EnvSlackWebhook: rx.URL}, string(healthy), "check", "-f", "-", "--notify")
	if code != ExitOK || len(rx.Messages()) != 1 {
		t.Errorf("healthy: exit %d, %d messages; want 0 and still 1", code, len(rx.Messages()))
	}
}

func TestCheckNotifyRejectedWebhook(t *testing.T) {
	rx := slacktest.New()
	defer rx.Close()
	rx.FailNext(slacktest.Fault{Status: 404})
	_, errOut, code := run(t, nil, "", "check", "-f", "testdata/outage.json", "--notify", "--slack-webhook", rx.URL+"/services/T0/B0/secret")
	if code != ExitError || !strings.Contains(errOut, "404") || strings.Contains(errOut, "secret") {
		t.Errorf("exit %d stderr %q: want 2, the 404, and no secret", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "nodewatch ") {
		t.Errorf("version: %d %q", code, out)
	}
}

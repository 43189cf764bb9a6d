package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
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

// TestCheckSlackWebhookFile: the webhook URL can come from a file, kept
// out of process lists; with --slack-webhook as well, or unreadable, check
// refuses to run and says why, without repeating the URL.
func TestCheckSlackWebhookFile(t *testing.T) {
	rx := slacktest.New()
	defer rx.Close()
	secret := rx.URL + "/services/T0/B0/s3cret"
	file := filepath.Join(t.TempDir(), "slack-webhook")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notify := []string{"check", "-f", "testdata/outage.json", "--notify", "-o", "json"}
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stderr   string
		messages int
	}{
		{name: "from the file", args: append(notify, "--slack-webhook-file", file), code: ExitFindings, messages: 1},
		{name: "the file wins over the environment", args: append(notify, "--slack-webhook-file", file),
			env: map[string]string{EnvSlackWebhook: "https://hooks.slack.com/services/env"}, code: ExitFindings, messages: 1},
		{name: "with --slack-webhook", args: append(notify, "--slack-webhook-file", file, "--slack-webhook", secret), code: ExitError, stderr: "--slack-webhook and --slack-webhook-file"},
		{name: "missing file", args: append(notify, "--slack-webhook-file", file+".nope"), code: ExitError, stderr: file + ".nope"},
		{name: "empty file", args: append(notify, "--slack-webhook-file", empty), code: ExitError, stderr: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rx.Messages())
			_, stderr, code := run(t, tc.env, "", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || strings.Contains(stderr, "s3cret") {
				t.Errorf("exit %d stderr %q, want exit %d and stderr containing %q and not the URL", code, stderr, tc.code, tc.stderr)
			}
			if got := len(rx.Messages()) - before; got != tc.messages {
				t.Errorf("%d messages sent, want %d", got, tc.messages)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "nodewatch ") {
		t.Errorf("version: %d %q", code, out)
	}
}

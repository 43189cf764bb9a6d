package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestDemo runs `make demo`'s program for real — hack/demo on the simulated
// cluster with the nodewatch binary under test — with --keep, then stops it
// with Ctrl-C (SIGINT). The story must have played out: the alerts (in the
// log and in Slack) name the leaking ReplicationController as the likely
// cause of every node that went down, suspects ranks it first, explain and
// recommend point at it; and after Ctrl-C no nodewatch or cluster process
// is left and the working directory is gone. The transcript is kept in
// artifacts/demo.txt.
func TestDemo(t *testing.T) {
	t.Parallel() // beside TestRandomCrashes, which mostly waits
	binDir := simcluster.Require(t)
	demoBin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", demoBin, "../../hack/demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hack/demo: %v\n%s", err, out)
	}
	// The demo says about 5 minutes; 2 busy cores may take longer.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute+30*time.Second)
	defer cancel()
	rx := slacktest.New()
	defer rx.Close()

	var out lockedBuffer
	cmd := exec.Command(demoBin, "--nodewatch", nodewatchBin, "--keep")
	cmd.Env = append(os.Environ(), simcluster.EnvBin+"="+binDir, "NODEWATCH_SLACK_WEBHOOK="+rx.URL)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
		if err := os.MkdirAll(artifacts, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(artifacts, "demo.txt"), []byte(out.String()), 0o644)
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	}()

	// The story, then --keep's "keeps running until Ctrl-C".
	const kept = "Everything keeps running until Ctrl-C"
	for !strings.Contains(out.String(), kept) {
		select {
		case <-done:
			t.Fatalf("the demo exited (%v) before %q", cmd.ProcessState, kept)
		case <-ctx.Done():
			t.Fatalf("no %q within 6.5 minutes", kept)
		case <-time.After(time.Second):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the demo did not stop within 90 s of Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the demo exited %d after Ctrl-C in --keep, want 0", code)
	}
	transcript := out.String()

	// Nothing left behind: every process the demo started (the cluster's
	// components and nodewatch run) had the working directory in its
	// command line.
	m := regexp.MustCompile(`Working directory: (\S+)`).FindStringSubmatch(transcript)
	if m == nil {
		t.Fatal("the demo did not say its working directory")
	}
	dir := m[1]
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the working directory %s is still there (%v)", dir, err)
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes left behind after Ctrl-C:\n%s", strings.Join(left, "\n"))
	}
	if !regexp.MustCompile(`Dashboard: http://127\.0\.0\.1:\d+/`).MatchString(transcript) {
		t.Error("no dashboard URL in the output")
	}

	// The alerts: every node that went down, with the culprit as its
	// likely cause, in the log and in Slack.
	const cause = "Likely cause: emails/ReplicationController/unanswered-emails"
	lines := strings.Split(transcript, "\n")
	downs := 0
	for i, l := range lines {
		if !regexp.MustCompile(`ALERT \[firing critical\] node-\d is down`).MatchString(l) {
			continue
		}
		downs++
		if i+1 >= len(lines) || !strings.Contains(lines[i+1], cause) || !strings.Contains(lines[i+1], "no memory limit") {
			t.Errorf("%q is not followed by %q with no memory limit", strings.TrimSpace(l), cause)
		}
	}
	if downs == 0 {
		t.Error("no 'is down' alert in the output")
	}
	slackDown := 0
	for _, msg := range rx.Messages() {
		if strings.HasSuffix(header(msg), " is down") {
			slackDown++
			if !strings.Contains(string(msg.Raw), cause) {
				t.Errorf("Slack message %q does not say %q", header(msg), cause)
			}
		}
	}
	if slackDown == 0 {
		t.Errorf("no 'is down' message in Slack; got:%s", headers(rx))
	}
	// The consumer whose cache fills in its first 30 s, then holds, is no
	// leak; nor are the steady and spiky jobs. Only the culprit leaks.
	for _, l := range lines {
		if m := regexp.MustCompile(`ALERT \[firing \w+\] (\S+) leaks`).FindStringSubmatch(l); m != nil && m[1] != "emails/ReplicationController/unanswered-emails" {
			t.Errorf("%s was called a leak: %s", m[1], strings.TrimSpace(l))
		}
	}
	for _, msg := range rx.Messages() {
		if h := header(msg); strings.Contains(h, " leaks ") && !strings.HasPrefix(h, "emails/ReplicationController/unanswered-emails ") {
			t.Errorf("Slack calls a workload other than the culprit a leak: %q", h)
		}
	}

	// The reports after the failures.
	suspects := section(transcript, "nodewatch suspects")
	if !regexp.MustCompile(`(?m)^\s+1\s+ReplicationController emails/unanswered-emails\s`).MatchString(suspects) {
		t.Errorf("suspects does not rank the leaking ReplicationController first:\n%s", suspects)
	}
	// The DaemonSet was on every failed node, as on every node: no
	// evidence against it.
	if !regexp.MustCompile(`(?m)^\s+\d+\s+DaemonSet logging/log-shipper\s+0\.0\s+on \d of \d failed nodes while it runs on 100% of nodes`).MatchString(suspects) {
		t.Errorf("suspects does not score the DaemonSet 0:\n%s", suspects)
	}
	// Its evidence includes the leak found in the history, though the
	// leaking pods were killed with their nodes.
	if !regexp.MustCompile(`(?m)^\s+1\s+ReplicationController emails/unanswered-emails\s.*container unanswered-emails of pod unanswered-emails-\S+ leaks \d+ MiB/h`).MatchString(suspects) {
		t.Errorf("suspects gives no leak evidence for the leaking ReplicationController:\n%s", suspects)
	}
	explain := section(transcript, "nodewatch explain node")
	for _, want := range []string{"LIKELY CAUSE", "emails/ReplicationController/unanswered-emails", "emails/unanswered-emails-", "MAJOR PAGE FAULTS/s"} {
		if !strings.Contains(explain, want) {
			t.Errorf("explain lacks %q:\n%s", want, explain)
		}
	}
	recommend := section(transcript, "nodewatch recommend")
	if !regexp.MustCompile(`(?m)ReplicationController/unanswered-emails .*leak`).MatchString(recommend) {
		t.Errorf("recommend does not flag the leak of unanswered-emails:\n%s", recommend)
	}
	plateau := regexp.MustCompile(`(?m)^.*Deployment/event-consumer .*$`).FindAllString(recommend, -1)
	if len(plateau) == 0 {
		t.Errorf("recommend does not size the warming-up event-consumer:\n%s", recommend)
	}
	for _, l := range plateau {
		if strings.Contains(l, "leak") {
			t.Errorf("recommend flags the plateau of event-consumer as a leak: %s", l)
		}
	}
}

// section returns the demo's chapter whose title starts with title.
func section(transcript, title string) string {
	for _, s := range strings.Split(transcript, "\n==> ") {
		if strings.HasPrefix(s, title) {
			return s
		}
	}
	return ""
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(s string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		out = append(out, filepath.Base(filepath.Dir(p))+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
	}
	return out
}

// lockedBuffer is written by the demo's output pipes and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

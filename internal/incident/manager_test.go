package incident

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/cluster"
	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

type memStore struct {
	saved map[string]*Incident
	msgs  []*notify.Message
	fail  error
}

func (s *memStore) Unfinished() ([]*Incident, error) {
	var out []*Incident
	for _, i := range s.saved {
		if i.Status == Open || len(i.Owed) > 0 {
			c := *i
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) Commit(incs []*Incident, msgs []*notify.Message) error {
	if s.fail != nil {
		return s.fail
	}
	for _, i := range incs {
		c := *i
		s.saved[i.ID] = &c
	}
	s.msgs = append(s.msgs, msgs...)
	return nil
}

type view struct{ pods map[string][]*corev1.Pod }

func (v view) PodsOn(n string) []*cluster.Pod {
	out := make([]*cluster.Pod, 0, len(v.pods[n]))
	for _, p := range v.pods[n] {
		s := cluster.PodFrom(p)
		out = append(out, &s)
	}
	return out
}
func (v view) Owners() cluster.Owners                { return cluster.Owners{} }
func (v view) Events(string, string, string) []Event { return nil }

func newTest(t *testing.T, window time.Duration) (*Manager, *memStore, *time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	st := &memStore{saved: map[string]*Incident{}}
	pods := map[string][]*corev1.Pod{}
	for _, n := range []string{"a", "b"} {
		pods[n] = []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "emails", Name: "ue-" + n}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}}
	}
	m, err := NewManager(st, view{pods: pods}, Options{GroupWindow: window, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return m, st, &now
}

func down(node, rule string) detect.Finding {
	sev := detect.Critical
	if rule == detect.NodeLeaseStale {
		sev = detect.Warning
	}
	return detect.Finding{Key: detect.DownKey(node), Rule: rule, Severity: sev, Node: node, Reason: "r"}
}

func titles(msgs []*notify.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Title)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	m, st, now := newTest(t, 0)
	step := func(fs ...detect.Finding) {
		*now = now.Add(10 * time.Second)
		m.Observe("node/", fs, nil)
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	step(down("a", detect.NodeLeaseStale))
	step(down("a", detect.NodeNotReady))
	step(down("a", detect.NodeNotReady))   // unchanged: nothing new
	step(down("a", detect.NodeLeaseStale)) // easing off: nothing new
	step()                                 // recovered
	want := []string{"early warning: a stopped heartbeating", "a is down", "a recovered (NodeNotReady after 40s)"}
	got := titles(st.msgs)
	if len(got) != len(want) {
		t.Fatalf("messages %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
	if len(st.msgs[1].Nodes) != 1 || len(st.msgs[1].Nodes[0].Pods) != 1 || st.msgs[1].Nodes[0].Pods[0].Name != "ue-a" {
		t.Errorf("the NotReady message must carry the node's pods: %+v", st.msgs[1].Nodes)
	}
	if st.msgs[2].Severity != detect.Critical || st.msgs[2].Status != notify.Resolved {
		t.Errorf("resolved message: severity %s status %s; keeps the firing severity", st.msgs[2].Severity, st.msgs[2].Status)
	}
	if len(m.Open()) != 0 || len(st.saved) != 1 {
		t.Errorf("open %d, saved %d; want 0 open, 1 incident", len(m.Open()), len(st.saved))
	}
}

// TestFirstAtOnceThenFollowUps: the first failure is announced at once;
// failures that follow within the window go out together when it closes,
// as one follow-up; the next window starts then.
func TestFirstAtOnceThenFollowUps(t *testing.T) {
	m, st, now := newTest(t, 30*time.Second)
	step := func(d time.Duration, fs ...detect.Finding) {
		*now = now.Add(d)
		m.Observe("node/", fs, nil)
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := down("a", detect.NodeNotReady), down("b", detect.NodeNotReady), down("c", detect.NodeNotReady)
	step(0, a)
	if got := titles(st.msgs); len(got) != 1 || got[0] != "a is down" {
		t.Fatalf("messages %q, want the first failure at once", got)
	}
	step(5*time.Second, a, b)
	step(5*time.Second, a, b, c)
	if got := titles(st.msgs); len(got) != 1 {
		t.Fatalf("follow-ups sent before the window closed: %q", got)
	}
	if due := m.NextDue(); !due.Equal(now.Add(20 * time.Second)) {
		t.Errorf("NextDue %s, want the window's end %s", due, now.Add(20*time.Second))
	}
	step(20*time.Second, a, b, c)
	if got := titles(st.msgs); len(got) != 2 || got[1] != "2 more nodes down: b, c" {
		t.Fatalf("messages %q, want one follow-up for b and c", got)
	}
	// A failure inside the next window waits for it; after a quiet
	// window the next failure is first again.
	step(10*time.Second, a, b, c, down("d", detect.NodeNotReady))
	step(20*time.Second, a, b, c, down("d", detect.NodeNotReady))
	step(40*time.Second, a, b, c, down("d", detect.NodeNotReady), down("e", detect.NodeNotReady))
	if got := titles(st.msgs); len(got) != 4 || got[2] != "d is down" || got[3] != "e is down" {
		t.Fatalf("messages %q, want d as a follow-up, then e at once", got)
	}
	// Recoveries keep their window from the first.
	step(time.Second)
	if got := titles(st.msgs); len(got) != 4 {
		t.Fatalf("a recovery sent before its window closed: %q", got)
	}
	step(30 * time.Second)
	if got := titles(st.msgs); len(got) != 5 || got[4] != "5 nodes recovered: a, b, c, d, e" {
		t.Fatalf("messages %q, want the recoveries grouped", got)
	}
}

// TestOwedMessagesSurviveRestart: a follow-up waiting for its window and a
// recovery waiting for its group are committed with their incidents; a
// new manager over the same store (a restart, graceful or not) sends each
// once when due, and nothing already sent again.
func TestOwedMessagesSurviveRestart(t *testing.T) {
	m, st, now := newTest(t, 30*time.Second)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	_ = m.Flush()
	*now = now.Add(5 * time.Second)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady), down("b", detect.NodeNotReady)}, nil)
	_ = m.Flush()
	restart := func() *Manager {
		m2, err := NewManager(st, m.view, Options{GroupWindow: 30 * time.Second, Now: func() time.Time { return *now }})
		if err != nil {
			t.Fatal(err)
		}
		return m2
	}
	m = restart() // b's follow-up is owed, in memory nowhere but the store
	*now = now.Add(10 * time.Second)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady), down("b", detect.NodeNotReady)}, nil)
	_ = m.Flush()
	if got := titles(st.msgs); len(got) != 1 {
		t.Fatalf("messages %q before b's window closed", got)
	}
	*now = now.Add(30 * time.Second) // the daemon was down past the window's end
	m = restart()
	_ = m.Flush()
	if got := titles(st.msgs); len(got) != 2 || got[1] != "b is down" {
		t.Fatalf("messages %q, want b's follow-up after the restart", got)
	}
	// Both recover; the daemon restarts before the recoveries' window
	// closes; they are sent once, together.
	m.Observe("node/", nil, nil)
	_ = m.Flush()
	m = restart()
	m.Observe("node/", nil, nil)
	*now = now.Add(31 * time.Second)
	_ = m.Flush()
	m = restart()
	_ = m.Flush()
	if got := titles(st.msgs); len(got) != 3 || got[2] != "2 nodes recovered: a, b" {
		t.Fatalf("messages %q, want one recovery message for both", got)
	}
	if len(m.Open()) != 0 || len(m.owing) != 0 {
		t.Errorf("open %d, owing %d after everything was sent", len(m.Open()), len(m.owing))
	}
}

func TestFlappingSuppresses(t *testing.T) {
	m, st, _ := newTest(t, 0)
	flap := detect.Finding{Key: "node/a/flapping", Rule: detect.NodeFlapping, Severity: detect.Warning, Node: "a", Message: "3 Ready transitions"}
	m.Observe("node/", []detect.Finding{flap}, nil)
	m.Observe("node/", []detect.Finding{flap, down("a", detect.NodeNotReady)}, nil)
	m.Observe("node/", []detect.Finding{flap}, nil)
	_ = m.Flush()
	if got := titles(st.msgs); len(got) != 1 || got[0] != "a is flapping" {
		t.Errorf("messages %q, want only the flapping alert", got)
	}
}

func TestCommitFailureKeepsMessages(t *testing.T) {
	m, st, _ := newTest(t, 0)
	st.fail = errors.New("no space left on device")
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	if err := m.Flush(); err == nil {
		t.Fatal("Flush hid a failed write")
	}
	st.fail = nil
	if err := m.Flush(); err != nil || len(st.msgs) != 1 {
		t.Errorf("after the disk recovered: err %v, %d messages; want the alert saved", err, len(st.msgs))
	}
}

func TestEscalationSupersedesAndKeepAlive(t *testing.T) {
	m, st, now := newTest(t, 0)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeLeaseStale)}, nil)
	_ = m.Flush()
	*now = now.Add(10 * time.Second)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	_ = m.Flush()
	if len(st.msgs) != 2 || st.msgs[1].Supersedes == nil || st.msgs[1].Supersedes.Rule != detect.NodeLeaseStale || st.msgs[1].Supersedes.Severity != detect.Warning {
		t.Fatalf("the NotReady message must supersede the early warning: %+v", st.msgs[len(st.msgs)-1])
	}
	fm := m.FiringMessages()
	if len(fm) != 1 || fm[0].Rule != detect.NodeNotReady || fm[0].Status != notify.Firing || fm[0].Supersedes != nil || len(fm[0].Nodes[0].Pods) != 1 {
		t.Errorf("keep-alive messages %+v", fm)
	}
	if len(st.msgs) != 2 {
		t.Errorf("FiringMessages queued something: %q", titles(st.msgs))
	}
}

// TestLikelyCause: a node failure's message names the cause Enrich finds
// (asked with the pods on the node), in the text and in the node's report,
// and keeps it when the escalation's history shows nothing new.
func TestLikelyCause(t *testing.T) {
	m, st, now := newTest(t, 0)
	var calls atomic.Int32
	start := *now
	m.opts.Enrich = func(_ context.Context, inc Incident, at time.Time) Enrichment {
		n := calls.Add(1)
		if inc.Node != "a" || len(inc.Pods) != 1 || inc.Pods[0].Name != "ue-a" || !at.Equal(start.Add(time.Duration(n)*10*time.Second)) {
			t.Errorf("Enrich(%s, %s, %+v)", inc.Node, at, inc.Pods)
		}
		if n > 1 {
			return Enrichment{}
		}
		return Enrichment{Cause: &health.Cause{Summary: "emails/ReplicationController/unanswered-emails — +1.0 GiB/h for 6h, no memory limit, 6.4 GiB at failure",
			Namespace: "emails", Kind: "ReplicationController", Name: "unanswered-emails"}}
	}
	for _, rule := range []string{detect.NodeLeaseStale, detect.NodeNotReady} {
		*now = now.Add(10 * time.Second)
		m.Observe("node/", []detect.Finding{down("a", rule)}, nil)
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
		m.WaitEnrichments()
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 2 || len(st.msgs) != 2 {
		t.Fatalf("Enrich called %d times, %d messages", calls.Load(), len(st.msgs))
	}
	for _, msg := range st.msgs {
		if !strings.Contains(msg.Text, "Likely cause: emails/ReplicationController/unanswered-emails") {
			t.Errorf("%q: text %q lacks the cause", msg.Title, msg.Text)
		}
		if c := msg.Nodes[0].LikelyCause; c == nil || c.Name != "unanswered-emails" {
			t.Errorf("%q: node report cause %+v", msg.Title, c)
		}
	}
}

// TestEnrichmentOffTheDetectionPath: an enrichment that takes long (a slow
// --prometheus-url) holds up neither Observe nor the commit: the incident
// and its owed message are saved at once, the message goes without the
// cause when EnrichWait runs out, and the cause that comes later goes into
// the incident (no second message).
func TestEnrichmentOffTheDetectionPath(t *testing.T) {
	m, st, now := newTest(t, 30*time.Second)
	release := make(chan struct{})
	m.opts.Enrich = func(ctx context.Context, inc Incident, _ time.Time) Enrichment {
		<-release
		return Enrichment{Cause: &health.Cause{Summary: "late cause"}}
	}
	t0 := time.Now()
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Errorf("Observe and Flush took %s with the enrichment hanging", d)
	}
	saved := st.saved[m.Open()[0].ID]
	if saved == nil || len(saved.Owed) != 1 || saved.Owed[0].Rule != detect.NodeNotReady || len(st.msgs) != 0 {
		t.Fatalf("want the incident committed owing its message, nothing queued yet: saved %+v, %d messages", saved, len(st.msgs))
	}
	*now = now.Add(m.opts.EnrichWait)
	_ = m.Flush()
	if got := titles(st.msgs); len(got) != 1 || got[0] != "a is down" || strings.Contains(st.msgs[0].Text, "late cause") {
		t.Fatalf("messages %q (text %q), want the alert without the cause once the wait ran out", got, st.msgs[0].Text)
	}
	close(release)
	m.WaitEnrichments()
	_ = m.Flush()
	if c := st.saved[m.Open()[0].ID].Cause; c == nil || c.Summary != "late cause" {
		t.Errorf("the incident lacks the cause that came late: %+v", c)
	}
	if len(st.msgs) != 1 {
		t.Errorf("a late cause sent another message: %q", titles(st.msgs))
	}
}

// TestRunSendsWhenDue: Run queues an owed message when its enrichment is
// in, without another evaluation, and stops its enrichments on exit.
func TestRunSendsWhenDue(t *testing.T) {
	st := &memStore{saved: map[string]*Incident{}}
	queued := make(chan struct{}, 10)
	m, err := NewManager(st, view{}, Options{
		Enrich: func(context.Context, Incident, time.Time) Enrichment {
			return Enrichment{Cause: &health.Cause{Summary: "leak"}}
		},
		Committed: func() { queued <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, nil); close(done) }()
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	select {
	case <-queued:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not queue the message when the enrichment came in")
	}
	cancel()
	<-done
	if len(st.msgs) != 1 || !strings.Contains(st.msgs[0].Text, "Likely cause: leak") {
		t.Errorf("messages %q, want one with the cause", titles(st.msgs))
	}
}

package incident

import (
	"errors"
	"strings"
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

func (s *memStore) OpenIncidents() ([]*Incident, error) {
	var out []*Incident
	for _, i := range s.saved {
		if i.Status == Open {
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

func TestGroupingAndRestart(t *testing.T) {
	m, st, now := newTest(t, 30*time.Second)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	_ = m.Flush()
	*now = now.Add(10 * time.Second)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady), down("b", detect.NodeNotReady)}, nil)
	_ = m.Flush()
	if len(st.msgs) != 0 {
		t.Fatalf("sent before the window closed: %q", titles(st.msgs))
	}
	*now = now.Add(21 * time.Second)
	_ = m.Flush()
	if got := titles(st.msgs); len(got) != 1 || got[0] != "2 nodes down: a, b" {
		t.Fatalf("messages %q, want one grouped", got)
	}
	// A new manager over the same store (a restart) finds the incidents
	// open and says nothing while they still hold.
	m2, err := NewManager(st, m.view, Options{GroupWindow: 30 * time.Second, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	m2.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady), down("b", detect.NodeNotReady)}, nil)
	*now = now.Add(time.Minute)
	_ = m2.Flush()
	if len(st.msgs) != 1 {
		t.Errorf("restart re-alerted: %q", titles(st.msgs))
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

// TestLikelyCause: a node failure's message names the cause Explain finds
// (asked with the pods on the node), in the text and in the node's report,
// and keeps it when the escalation's history shows nothing new.
func TestLikelyCause(t *testing.T) {
	m, st, now := newTest(t, 0)
	calls := 0
	m.opts.Explain = func(node string, at time.Time, pods []health.PodReport) *health.Cause {
		calls++
		if node != "a" || len(pods) != 1 || pods[0].Name != "ue-a" || !at.Equal(*now) {
			t.Errorf("Explain(%s, %s, %+v)", node, at, pods)
		}
		if calls > 1 {
			return nil
		}
		return &health.Cause{Summary: "emails/ReplicationController/unanswered-emails — +1.0 GiB/h for 6h, no memory limit, 6.4 GiB at failure",
			Namespace: "emails", Kind: "ReplicationController", Name: "unanswered-emails"}
	}
	for _, rule := range []string{detect.NodeLeaseStale, detect.NodeNotReady} {
		*now = now.Add(10 * time.Second)
		m.Observe("node/", []detect.Finding{down("a", rule)}, nil)
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || len(st.msgs) != 2 {
		t.Fatalf("Explain called %d times, %d messages", calls, len(st.msgs))
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

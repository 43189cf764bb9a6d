package incident

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nodewatch/nodewatch/internal/detect"
)

func newLogTest(t *testing.T, keep bool) (*Manager, *memStore, *time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	st := &memStore{saved: map[string]*Incident{}}
	m, err := NewManager(st, view{}, Options{Now: func() time.Time { return now }, KubeletLogs: keep})
	if err != nil {
		t.Fatal(err)
	}
	return m, st, &now
}

// saved is the one incident in the store.
func saved(t *testing.T, st *memStore) *Incident {
	t.Helper()
	if len(st.saved) != 1 {
		t.Fatalf("%d incidents saved, want 1", len(st.saved))
	}
	for _, i := range st.saved {
		return i
	}
	return nil
}

func flush(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A kubelet that answers when its node fails: its log, from 10 minutes
// before the incident to now, is kept with the incident and asked for once.
func TestKubeletLogKeptWithIncident(t *testing.T) {
	m, st, now := newLogTest(t, true)
	start := *now
	m.Observe("node/", []detect.Finding{down("a", detect.NodeLeaseStale)}, nil)
	*now = now.Add(5 * time.Second)
	reqs := m.KubeletLogRequests()
	if len(reqs) != 1 || reqs[0].Node != "a" || !reqs[0].From.Equal(start.Add(-10*time.Minute)) || !reqs[0].To.Equal(*now) {
		t.Fatalf("requests %+v, want one for node a from %s to %s", reqs, start.Add(-10*time.Minute), *now)
	}
	if again := m.KubeletLogRequests(); len(again) != 0 {
		t.Errorf("asked twice: %+v", again)
	}
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil) // escalates: still one incident, one ask
	m.AttachKubeletLog(reqs[0].Incident, []string{"E1129 kubelet.go:2412 PLEG is not healthy"}, nil)
	flush(t, m)
	if inc := saved(t, st); len(inc.KubeletLog) != 1 || inc.KubeletLog[0] != "E1129 kubelet.go:2412 PLEG is not healthy" || inc.KubeletLogMissing != "" {
		t.Errorf("kept %q, missing %q", inc.KubeletLog, inc.KubeletLogMissing)
	}
	m.Observe("node/", nil, nil) // recovered: it has its log
	if reqs := m.KubeletLogRequests(); len(reqs) != 0 {
		t.Errorf("asked again after the log was kept: %+v", reqs)
	}
}

// A kubelet that does not answer while its node is down is asked once more
// when the node is back, for the same minutes around the failure.
func TestKubeletLogAskedAgainWhenNodeIsBack(t *testing.T) {
	m, st, now := newLogTest(t, true)
	start := *now
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	reqs := m.KubeletLogRequests()
	if len(reqs) != 1 {
		t.Fatalf("requests %+v", reqs)
	}
	m.AttachKubeletLog(reqs[0].Incident, nil, errors.New("reading a's kubelet log: context deadline exceeded"))
	flush(t, m)
	if inc := saved(t, st); inc.KubeletLog != nil || !strings.Contains(inc.KubeletLogMissing, "deadline exceeded") {
		t.Errorf("kept %q, missing %q; want why there is none", inc.KubeletLog, inc.KubeletLogMissing)
	}
	*now = now.Add(5 * time.Minute)
	if reqs := m.KubeletLogRequests(); len(reqs) != 0 {
		t.Errorf("asked again while the node is still down: %+v", reqs)
	}
	m.Observe("node/", nil, nil) // back
	reqs = m.KubeletLogRequests()
	if len(reqs) != 1 || !reqs[0].From.Equal(start.Add(-10*time.Minute)) || !reqs[0].To.Equal(start.Add(2*time.Minute)) {
		t.Fatalf("after recovery: %+v, want the minutes around the failure (%s to %s)", reqs, start.Add(-10*time.Minute), start.Add(2*time.Minute))
	}
	m.AttachKubeletLog(reqs[0].Incident, []string{"I1129 kubelet.go:1 a", "I1129 kubelet.go:2 b"}, nil)
	flush(t, m)
	if inc := saved(t, st); len(inc.KubeletLog) != 2 || inc.KubeletLogMissing != "" || inc.Status != Resolved {
		t.Errorf("kept %q, missing %q, status %s", inc.KubeletLog, inc.KubeletLogMissing, inc.Status)
	}
}

// A node replaced rather than repaired answers neither time: the incident
// says why and nothing is asked for again.
func TestKubeletLogGivenUpAfterRecovery(t *testing.T) {
	m, st, _ := newLogTest(t, true)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	reqs := m.KubeletLogRequests()
	m.Observe("node/", nil, nil) // back while the first request is out
	m.AttachKubeletLog(reqs[0].Incident, nil, errors.New("first"))
	reqs = m.KubeletLogRequests()
	if len(reqs) != 1 {
		t.Fatalf("the node came back while asking: want one more request, got %+v", reqs)
	}
	m.AttachKubeletLog(reqs[0].Incident, nil, errors.New("a's kubelet does not answer log queries"))
	flush(t, m)
	if inc := saved(t, st); inc.KubeletLogMissing != "a's kubelet does not answer log queries" {
		t.Errorf("missing %q", inc.KubeletLogMissing)
	}
	if reqs := m.KubeletLogRequests(); len(reqs) != 0 {
		t.Errorf("asked a third time: %+v", reqs)
	}
	if len(m.logs) != 0 {
		t.Errorf("%d incidents still wait for a log", len(m.logs))
	}
}

// Without a reader, nothing waits; workload incidents never do.
func TestKubeletLogOnlyForNodeFailures(t *testing.T) {
	m, _, _ := newLogTest(t, false)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	if reqs := m.KubeletLogRequests(); len(reqs) != 0 {
		t.Errorf("without KubeletLogs: %+v", reqs)
	}
	m, _, _ = newLogTest(t, true)
	m.Observe("workload/", []detect.Finding{{Key: "workload/emails/x", Rule: detect.WorkloadFailing, Severity: detect.Warning, Workload: "emails/x"}}, nil)
	m.Observe("node/", []detect.Finding{{Key: "node/a/pressure", Rule: detect.NodePressure, Severity: detect.Warning, Node: "a"}}, nil)
	if reqs := m.KubeletLogRequests(); len(reqs) != 0 {
		t.Errorf("asked for a workload's or a pressure incident's kubelet log: %+v", reqs)
	}
}

func TestBoundLines(t *testing.T) {
	var lines []string
	for i := range MaxKubeletLogLines + 50 {
		lines = append(lines, strings.Repeat("é", i))
	}
	lines[len(lines)-1] = strings.Repeat("é", maxLogLine) // 2 bytes a rune
	got := boundLines(lines)
	if len(got) != MaxKubeletLogLines || got[0] != lines[50] {
		t.Fatalf("kept %d lines from %q, want the last %d", len(got), got[0], MaxKubeletLogLines)
	}
	last := got[len(got)-1]
	if !utf8.ValidString(last) || len(last) > maxLogLine+len("…") || !strings.HasSuffix(last, "…") {
		t.Errorf("a long line cut to %d bytes, valid UTF-8 %v", len(last), utf8.ValidString(last))
	}
}

// A kubelet that answers with nothing: the incident says so, and it is
// not asked again.
func TestKubeletLogEmpty(t *testing.T) {
	m, st, _ := newLogTest(t, true)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady)}, nil)
	reqs := m.KubeletLogRequests()
	m.AttachKubeletLog(reqs[0].Incident, nil, nil)
	m.Observe("node/", nil, nil)
	flush(t, m)
	if inc := saved(t, st); len(inc.KubeletLog) != 0 || !strings.HasPrefix(inc.KubeletLogMissing, "a's kubelet log has no lines from ") {
		t.Errorf("kept %q, missing %q", inc.KubeletLog, inc.KubeletLogMissing)
	}
	if reqs := m.KubeletLogRequests(); len(reqs) != 0 {
		t.Errorf("asked again: %+v", reqs)
	}
}

// A restart loses no wait: an open incident never asked is asked at once,
// one whose kubelet did not answer is asked when its node is back.
func TestKubeletLogWaitSurvivesRestart(t *testing.T) {
	m, st, now := newLogTest(t, true)
	m.Observe("node/", []detect.Finding{down("a", detect.NodeNotReady), down("b", detect.NodeNotReady)}, nil)
	var tried string
	for _, r := range m.KubeletLogRequests() {
		if r.Node == "a" {
			tried = r.Incident
			m.AttachKubeletLog(r.Incident, nil, errors.New("a's kubelet: connection refused"))
		}
	}
	flush(t, m)
	m, err := NewManager(st, view{}, Options{Now: func() time.Time { return *now }, KubeletLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	reqs := m.KubeletLogRequests()
	if len(reqs) != 1 || reqs[0].Node != "b" {
		t.Fatalf("after a restart: %+v, want node b's log asked at once, a's not yet", reqs)
	}
	m.Observe("node/", []detect.Finding{down("b", detect.NodeNotReady)}, nil) // a is back
	reqs = m.KubeletLogRequests()
	if len(reqs) != 1 || reqs[0].Incident != tried {
		t.Errorf("a back after the restart: %+v, want its incident %s asked again", reqs, tried)
	}
}

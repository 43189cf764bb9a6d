package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/notify"
	"github.com/nodewatch/nodewatch/internal/notify/outbox"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(dir, []string{"slack", "log"}, false)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// A message is queued once per sink, and never again once delivered —
// across a restart too.
func TestOutboxExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	inc := &incident.Incident{ID: "i1", Key: "node/a/down", Status: incident.Open, Start: t0}
	msg := &notify.Message{Key: "i1/NodeNotReady/firing", Title: "a is down"}
	if err := db.Commit([]*incident.Incident{inc}, []*notify.Message{msg}); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit(nil, []*notify.Message{msg}); err != nil { // queued already
		t.Fatal(err)
	}
	due, err := db.Due("slack", time.Now().Add(time.Hour), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %v %v, want 1 slack entry", due, err)
	}
	if err := db.Delivered(due[0], t0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	if err := db.Commit(nil, []*notify.Message{msg}); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.Due("slack", time.Now().Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("a delivered message was queued again after a restart: %v", due)
	}
	if due, _ := db.Due("log", time.Now().Add(time.Hour), 10); len(due) != 1 {
		t.Errorf("the log sink lost its entry: %v", due)
	}
	open, err := db.Unfinished()
	if err != nil || len(open) != 1 || open[0].ID != "i1" {
		t.Errorf("open incidents after restart: %v %v", open, err)
	}
	if _, err := Open(dir, nil, true); err == nil {
		t.Error("a second process opened the data dir while the daemon holds it")
	}
}

func TestEvents(t *testing.T) {
	db := open(t, t.TempDir())
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	evs := []Event{
		{UID: "1", Kind: "Node", Name: "a", Time: t0, Reason: "NodeNotReady", Message: "Node a status is now: NodeNotReady"},
		{UID: "2", Kind: "Node", Name: "a", Time: t0.Add(-2 * time.Hour), Reason: "Rebooted"},
		{UID: "3", Kind: "Node", Name: "ab", Time: t0, Reason: "SystemOOM"},
		{UID: "4", Kind: "Pod", Namespace: "emails", Name: "ue-1", Time: t0, Reason: "OOMKilling"},
	}
	if err := db.SaveEvents(evs); err != nil {
		t.Fatal(err)
	}
	got, err := db.Events("Node", "", "a", t0.Add(-3*time.Hour))
	if err != nil || len(got) != 2 || got[0].Reason != "Rebooted" || got[1].Reason != "NodeNotReady" {
		t.Errorf("events of node a: %+v %v; want its two, oldest first, not node ab's", got, err)
	}
	if n, err := db.PruneEvents(t0.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("pruned %d %v, want 1", n, err)
	}
	if got, _ := db.Events("Node", "", "a", time.Time{}); len(got) != 1 {
		t.Errorf("after pruning: %+v", got)
	}
}

// refuser is a receiver that answers 500 to one message, every time, and
// takes the others.
type refuser struct {
	mu        sync.Mutex
	refuse    string
	delivered []string
	refusals  int
}

func (r *refuser) Notify(_ context.Context, m *notify.Message) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Key == r.refuse {
		r.refusals++
		return true, errors.New("HTTP 500")
	}
	r.delivered = append(r.delivered, m.Key)
	return false, nil
}

func (r *refuser) state() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.delivered), r.refusals
}

type deadCount struct {
	mu  sync.Mutex
	why []string
}

func (d *deadCount) Sent(string, *notify.Message, time.Time) {}
func (d *deadCount) Failed(string, bool)                     {}
func (d *deadCount) Dead(_, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.why = append(d.why, why)
}

// TestRefusedMessageHoldsUpNoOther: a sink that refuses one message
// forever still gets every later message about other incidents, in
// order, while the refused one is retried behind its own incident's
// queue; after MaxAttempts it goes to the dead letters, counted, and the
// message queued behind it about the same incident goes out.
func TestRefusedMessageHoldsUpNoOther(t *testing.T) {
	db, err := Open(t.TempDir(), []string{"slack"}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	m := func(inc, status string) *notify.Message {
		return &notify.Message{Key: inc + "/NodeNotReady/" + status, IncidentID: inc, Severity: "critical", Status: status, Title: inc + " " + status}
	}
	if err := db.Commit(nil, []*notify.Message{m("a", "firing"), m("b", "firing"), m("a", "resolved"), m("c", "firing")}); err != nil {
		t.Fatal(err)
	}
	rx := &refuser{refuse: "a/NodeNotReady/firing"}
	dead := &deadCount{}
	s := outbox.New(db, []outbox.Sink{{Name: "slack", Notifier: rx}}, outbox.Options{
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 5, Metrics: dead,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go s.Run(ctx)
	for {
		got, _ := rx.state()
		if len(got) >= 2 {
			if !slices.Equal(got[:2], []string{"b/NodeNotReady/firing", "c/NodeNotReady/firing"}) {
				t.Fatalf("delivered %v first, want b and c while a is refused", got)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("later messages held up behind the refused one: delivered %v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		got, refusals := rx.state()
		if len(got) == 3 {
			if got[2] != "a/NodeNotReady/resolved" || refusals != 5 {
				t.Fatalf("delivered %v after %d refusals, want a's recovery after 5", got, refusals)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("a's recovery never went: delivered %v, %d refusals", got, refusals)
		}
		time.Sleep(5 * time.Millisecond)
	}
	dead.mu.Lock()
	defer dead.mu.Unlock()
	if !slices.Equal(dead.why, []string{"attempts"}) {
		t.Errorf("dead letters counted %v, want one for attempts", dead.why)
	}
	// The sender records a delivery just after the receiver took it.
	for p, _ := db.Pending(); p["slack"] != 0; p, _ = db.Pending() {
		if ctx.Err() != nil {
			t.Fatalf("%d still queued", p["slack"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCorruptFile: a state file with a damaged page is refused with an
// error that names the file and says what to do — never a panic (bbolt
// asserts on a page of the wrong type).
func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	for i := range 200 {
		inc := &incident.Incident{ID: fmt.Sprintf("i%03d", i), Key: fmt.Sprintf("node/n%d/down", i), Status: incident.Open, Start: t0,
			Message: strings.Repeat("x", 500)}
		if err := db.Commit([]*incident.Incident{inc}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for p := 2; p*page < len(b); p++ { // every page past the two meta pages
		for i := p * page; i < p*page+16 && i < len(b); i++ {
			b[i] = 0xA5
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read-only first: a panic inside bbolt's Open leaves its file lock held.
	for _, readOnly := range []bool{true, false} {
		db, err := Open(dir, []string{"slack"}, readOnly)
		if err == nil {
			_ = db.Close() // the test fails on the open already
			t.Fatalf("readOnly=%v: a corrupt file opened", readOnly)
		}
		for _, want := range []string{path, "corrupt", "mv " + path + " " + path + ".corrupt"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("readOnly=%v: error %q lacks %q", readOnly, err, want)
			}
		}
	}
}

// TestPrune: incidents resolved before the cut, delivered keys and dead
// letters older than it go; open incidents, incidents still owed a
// message and queued messages stay.
func TestPrune(t *testing.T) {
	db := open(t, t.TempDir())
	defer func() { _ = db.Close() }() // a scratch store: a close error fails no check
	old, recent := t0.Add(-100*24*time.Hour), t0.Add(-time.Hour)
	ended := func(id string, at time.Time) *incident.Incident {
		return &incident.Incident{ID: id, Key: "node/" + id + "/down", Status: incident.Resolved, Start: at.Add(-time.Hour), End: &at}
	}
	owing := ended("owing", old)
	owing.Owed = []incident.Owed{{Rule: "NodeNotReady", Status: "resolved", Due: t0}}
	incs := []*incident.Incident{ended("old", old), ended("recent", recent), owing,
		{ID: "open", Key: "node/open/down", Status: incident.Open, Start: old}}
	msg := func(key string) *notify.Message { return &notify.Message{Key: key, Title: key} }
	if err := db.Commit(incs, []*notify.Message{msg("m-old"), msg("m-recent"), msg("m-queued"), msg("m-dead")}); err != nil {
		t.Fatal(err)
	}
	due, _ := db.Due("slack", time.Now().Add(time.Hour), 10)
	for _, e := range due {
		switch e.Message.Key {
		case "m-old":
			_ = db.Delivered(e, old)
		case "m-recent":
			_ = db.Delivered(e, recent)
		case "m-dead":
			e.Created = old
			_ = db.Drop(e)
		}
	}
	p, err := db.Prune(t0.Add(-90 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p != (Pruned{Incidents: 1, Delivered: 1, Dead: 1}) {
		t.Errorf("pruned %+v, want one of each", p)
	}
	all, _ := db.Incidents()
	var ids []string
	for _, i := range all {
		ids = append(ids, i.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"open", "owing", "recent"}) {
		t.Errorf("incidents left %v", ids)
	}
	if n, _ := db.Pending(); n["slack"] != 1 || n["log"] != 4 {
		t.Errorf("queued messages left %v, want m-queued for slack and all four for log", n)
	}
}

package store

import (
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/notify"
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
	db.Close()
	db = open(t, dir)
	defer db.Close()
	if err := db.Commit(nil, []*notify.Message{msg}); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.Due("slack", time.Now().Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("a delivered message was queued again after a restart: %v", due)
	}
	if due, _ := db.Due("log", time.Now().Add(time.Hour), 10); len(due) != 1 {
		t.Errorf("the log sink lost its entry: %v", due)
	}
	open, err := db.OpenIncidents()
	if err != nil || len(open) != 1 || open[0].ID != "i1" {
		t.Errorf("open incidents after restart: %v %v", open, err)
	}
	if _, err := Open(dir, nil, true); err == nil {
		t.Error("a second process opened the data dir while the daemon holds it")
	}
}

func TestEvents(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
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

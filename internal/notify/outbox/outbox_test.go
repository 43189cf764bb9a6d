package outbox

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify"
)

func msg(incident, severity, status string) *notify.Message {
	return &notify.Message{Key: incident + "/" + status + "/" + severity, IncidentID: incident, Severity: severity, Status: status}
}

func entries(ms ...*notify.Message) []Entry {
	out := make([]Entry, len(ms))
	for i, m := range ms {
		out[i] = Entry{Seq: uint64(i + 1), Sink: "slack", Message: m}
	}
	return out
}

func TestNext(t *testing.T) {
	cases := []struct {
		name string
		due  []Entry
		want string
	}{
		{"queue order among equals", entries(msg("a", "warning", "firing"), msg("b", "warning", "firing")), "a/firing/warning"},
		{"critical before earlier warnings", entries(msg("a", "warning", "firing"), msg("b", "warning", "firing"), msg("c", "critical", "firing")), "c/firing/critical"},
		{"firing before resolved", entries(msg("a", "warning", "resolved"), msg("b", "warning", "firing")), "b/firing/warning"},
		// The incident that escalated goes first, but its own early warning
		// still precedes its escalation.
		{"an incident keeps its order", entries(msg("x", "warning", "firing"), msg("a", "warning", "firing"), msg("a", "critical", "firing")), "a/firing/warning"},
		{"unknown severity last", entries(msg("a", "", "firing"), msg("b", "info", "firing")), "b/firing/info"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Next(tc.due).Message.Key; got != tc.want {
				t.Errorf("Next = %s, want %s", got, tc.want)
			}
		})
	}
}

// memQueue is an in-memory Queue.
type memQueue struct {
	mu      sync.Mutex
	entries []Entry
}

func (q *memQueue) Due(sink string, now time.Time, limit int) ([]Entry, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Entry
	waiting := map[string]bool{}
	for _, e := range q.entries {
		if e.Sink != sink || len(out) == limit {
			continue
		}
		if g := GroupOf(e.Message); waiting[g] || e.NextAttempt.After(now) {
			waiting[g] = true
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (q *memQueue) remove(e Entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.entries {
		if q.entries[i].Seq == e.Seq {
			q.entries = append(q.entries[:i], q.entries[i+1:]...)
			return
		}
	}
}

func (q *memQueue) Delivered(e Entry, _ time.Time) error { q.remove(e); return nil }
func (q *memQueue) Drop(e Entry) error                   { q.remove(e); return nil }
func (q *memQueue) Retry(e Entry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.entries {
		if q.entries[i].Seq == e.Seq {
			q.entries[i] = e
		}
	}
	return nil
}

type recorder struct {
	mu   sync.Mutex
	keys []string
	done chan struct{}
	want int
}

func (r *recorder) Notify(_ context.Context, m *notify.Message) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, m.Key)
	if len(r.keys) == r.want {
		close(r.done)
	}
	return false, nil
}

// TestCriticalOvertakesQueuedWarnings: on a rate-limited sink a critical
// alert queued behind a burst of warnings is the next one sent.
func TestCriticalOvertakesQueuedWarnings(t *testing.T) {
	q := &memQueue{entries: entries(
		msg("w1", "warning", "firing"), msg("w2", "warning", "firing"), msg("w3", "warning", "firing"),
		msg("w4", "warning", "firing"), msg("crit", "critical", "firing"), msg("crit", "critical", "resolved"))}
	rec := &recorder{done: make(chan struct{}), want: 6}
	s := New(q, []Sink{{Name: "slack", Notifier: rec, Rate: 50}}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go s.Run(ctx)
	select {
	case <-rec.done:
	case <-ctx.Done():
		t.Fatalf("delivered %v, want 6", rec.keys)
	}
	want := []string{"crit/firing/critical", "crit/resolved/critical", "w1/firing/warning", "w2/firing/warning", "w3/firing/warning", "w4/firing/warning"}
	for i := range want {
		if rec.keys[i] != want[i] {
			t.Fatalf("delivery order %v, want %v", rec.keys, want)
		}
	}
}

// slow takes a message after a while, unless its context ends first.
type slow struct {
	started chan struct{}
	took    chan string
}

func (s *slow) Notify(ctx context.Context, m *notify.Message) (bool, error) {
	close(s.started)
	select {
	case <-time.After(300 * time.Millisecond):
		s.took <- m.Key
		return false, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// TestStopLetsASendFinish: a send under way when the sender is stopped
// (SIGTERM) finishes and is recorded as delivered, so the next start does
// not send it again.
func TestStopLetsASendFinish(t *testing.T) {
	q := &memQueue{entries: entries(msg("a", "critical", "firing"))}
	rx := &slow{started: make(chan struct{}), took: make(chan string, 1)}
	s := New(q, []Sink{{Name: "slack", Notifier: rx}}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	<-rx.started
	cancel()
	<-done
	select {
	case <-rx.took:
	default:
		t.Fatal("the send under way was cut off")
	}
	if due, _ := q.Due("slack", time.Now().Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("a delivered message is still queued: %+v", due)
	}
}

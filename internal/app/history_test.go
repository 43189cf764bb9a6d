package app

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestWriteFinding: a failed history write (a full disk) is an alert until
// a write works again.
func TestWriteFinding(t *testing.T) {
	c := &collector{}
	if f := c.writeFinding(); len(f) != 0 {
		t.Fatalf("findings before any failure: %+v", f)
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	c.writeErr.Store(&writeFailure{err: errors.New("write /data/tsdb/wal/00000003: no space left on device"), since: at})
	f := c.writeFinding()
	if len(f) != 1 || f[0].Rule != HistoryWriteFailing || !f[0].Since.Equal(at) || !strings.Contains(f[0].Message, "no space left on device") ||
		!strings.HasPrefix(f[0].Key, writeScope) {
		t.Errorf("finding %+v", f)
	}
	c.writeErr.Store(nil)
	if f := c.writeFinding(); len(f) != 0 {
		t.Errorf("findings after a write worked again: %+v", f)
	}
}

func TestWorthKeeping(t *testing.T) {
	for _, tc := range []struct {
		kind, typ, reason string
		keep              bool
	}{
		{"Node", "Normal", "NodeNotReady", true},
		{"Node", "Normal", "Starting", true},
		{"Pod", "Warning", "Evicted", true},
		{"Pod", "Warning", "BackOff", true},
		{"Pod", "Normal", "Killing", true},
		{"Pod", "Normal", "TaintManagerEviction", true},
		{"Pod", "Normal", "Scheduled", false},
		{"Pod", "Normal", "Pulled", false},
		{"Pod", "Normal", "Started", false},
	} {
		e := &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: tc.kind}, Type: tc.typ, Reason: tc.reason}
		if got := worthKeeping(e); got != tc.keep {
			t.Errorf("%s %s %s: keep %v, want %v", tc.kind, tc.typ, tc.reason, got, tc.keep)
		}
	}
}

// TestStampFor: cycles that start a few milliseconds late are stamped on
// the schedule (evenly spaced timestamps compress to a bit each); a late or
// early cycle beyond the tolerance, or a clock that went back, starts a new
// schedule from its own time.
func TestStampFor(t *testing.T) {
	var logged strings.Builder
	c := &collector{log: slog.New(slog.NewTextHandler(&logged, nil))}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 123_456_789, time.UTC)
	const iv = 30 * time.Second
	for i, tc := range []struct {
		now, want time.Time
	}{
		{t0, t0.Truncate(time.Millisecond)},
		{t0.Add(iv + 3*time.Millisecond), t0.Truncate(time.Millisecond).Add(iv)},
		{t0.Add(2*iv - 40*time.Millisecond), t0.Truncate(time.Millisecond).Add(2 * iv)},
		{t0.Add(3*iv + 2*time.Second), t0.Add(3*iv + 2*time.Second).Truncate(time.Millisecond)}, // a slow cycle: its own time
		{t0.Add(4*iv + 2*time.Second + 50*time.Millisecond), t0.Add(4*iv + 2*time.Second).Truncate(time.Millisecond)},
		{t0.Add(time.Minute), t0.Add(time.Minute).Truncate(time.Millisecond)}, // the clock went back
	} {
		if got := c.stampFor(tc.now, iv); !got.Equal(tc.want) {
			t.Errorf("cycle %d at %s: stamped %s, want %s", i, tc.now.Format(time.StampMicro), got.Format(time.StampMicro), tc.want.Format(time.StampMicro))
		}
	}
	if !strings.Contains(logged.String(), "the clock went back") || strings.Count(logged.String(), "\n") != 1 {
		t.Errorf("want one line about the clock going back, logged:\n%s", logged.String())
	}
}

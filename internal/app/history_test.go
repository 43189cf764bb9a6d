package app

import (
	"errors"
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

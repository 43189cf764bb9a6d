package demo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// printer writes the story; the harness and the alert tail write from
// their own goroutines, so every write holds the lock. Write errors are
// dropped: a story the terminal fails to show is no reason to stop the
// demo, which cleans up after itself at the end.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time // of the story, for the clock on events
}

// say starts a chapter.
func (p *printer) say(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.w, "\n==> "+format+"\n", a...)
}

// line writes indented text.
func (p *printer) line(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprint(p.w, indent(fmt.Sprintf(format, a...), "    "))
}

// event writes a line stamped with the story's clock.
func (p *printer) event(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.w, "  %s  %s\n", p.clock(), fmt.Sprintf(format, a...))
}

// alert writes an alert the daemon sent, with its text below.
func (p *printer) alert(a alert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.w, "  %s  ALERT [%s %s] %s\n", p.clock(), a.Status, a.Severity, a.Title)
	if a.Text != "" {
		_, _ = fmt.Fprint(p.w, indent(a.Text, "         "))
	}
}

func (p *printer) clock() string {
	if p.start.IsZero() {
		return "     "
	}
	d := time.Since(p.start).Round(time.Second)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// indent prefixes every line of s, which ends with a newline.
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

// board is what the story's actors have seen so far: the alerts the
// daemon sent and the nodes the harness made thrash, failed and recovered. The
// narration waits on it.
type board struct {
	mu        sync.Mutex
	changed   chan struct{}
	dead      <-chan struct{} // closed when the daemon exits
	alerts    []alert
	thrashing map[string]bool
	failed    map[string]time.Time
	recovered map[string]time.Time
}

func newBoard() *board {
	return &board{changed: make(chan struct{}), thrashing: map[string]bool{}, failed: map[string]time.Time{}, recovered: map[string]time.Time{}}
}

// update changes the board under its lock and wakes the waiters.
func (b *board) update(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait waits until cond (called under the lock) holds.
func (b *board) wait(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		ok, ch := cond(), b.changed
		b.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-b.dead:
			return fmt.Errorf("waiting for %s: nodewatch run exited", what)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("waiting for %s: not within %s", what, timeout)
		}
	}
}

// alertedDown reports whether an alert said node is down, alone or in a
// follow-up (call under the lock).
func (b *board) alertedDown(node string) bool {
	for _, a := range b.alerts {
		if a.Status != "firing" {
			continue
		}
		if a.Title == node+" is down" {
			return true
		}
		// A follow-up inside the grouping window: "2 more nodes down: a, b".
		if _, list, ok := strings.Cut(a.Title, " nodes down: "); ok && slices.Contains(strings.Split(list, ", "), node) {
			return true
		}
	}
	return false
}

// failedNodes lists the nodes failed so far, in order (call under the lock).
func (b *board) failedNodes() []string {
	var out []string
	for n := range b.failed {
		out = append(out, n)
	}
	slices.SortFunc(out, func(x, y string) int {
		return cmp.Or(b.failed[x].Compare(b.failed[y]), strings.Compare(x, y))
	})
	return out
}

// setStart starts the story's clock.
func (p *printer) setStart(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start = t
}

// block writes a command line and its output, in one piece.
func (p *printer) block(cmdline, out string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprint(p.w, indent(cmdline, "    ")+indent(out, "    "))
}

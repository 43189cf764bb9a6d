package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock of every golden file.
var fixedNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// run executes the CLI in-process with a fixed clock and environment.
func run(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{
		Streams: Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb},
		now:     func() time.Time { return fixedNow },
		getenv:  func(k string) string { return env[k] },
	}
	code = execute(context.Background(), args, g)
	return out.String(), errb.String(), code
}

func TestSparkline(t *testing.T) {
	pts := []Point{{Bytes: 0}, {Bytes: 50}, {Bytes: 100}, {Bytes: 100}}
	if got := Sparkline(pts, 0, 100); got != "▁▄██" {
		t.Errorf("Sparkline = %q, want ▁▄██", got)
	}
	if got := Sparkline(pts[:2], 7, 7); got != "▁▁" {
		t.Errorf("flat: %q", got)
	}
}

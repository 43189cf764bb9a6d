package cli

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestSinceEverywhere: --since takes days and weeks in every command (it
// was `recommend --since 7d` works, `leaks --since 7d` fails).
func TestSinceEverywhere(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"7d", 7 * 24 * time.Hour}, {"2w", 14 * 24 * time.Hour}, {"90m", 90 * time.Minute}, {"1h30m", 90 * time.Minute}, {"6h", 6 * time.Hour}} {
		var d time.Duration
		f := pflag.NewFlagSet("x", pflag.ContinueOnError)
		sinceVar(f, &d, "since", time.Hour, "")
		if err := f.Parse([]string{"--since", tc.in}); err != nil || d != tc.want {
			t.Errorf("--since %s: %s %v, want %s", tc.in, d, err, tc.want)
		}
	}
	var d time.Duration
	f := pflag.NewFlagSet("x", pflag.ContinueOnError)
	sinceVar(f, &d, "since", 24*time.Hour, "")
	if d != 24*time.Hour || f.Lookup("since").DefValue != "1d" {
		t.Errorf("default %s shown as %q", d, f.Lookup("since").DefValue)
	}
	if err := f.Parse([]string{"--since", "7 days"}); err == nil {
		t.Error("--since '7 days' was taken")
	}
	for _, cmd := range []string{"leaks", "suspects", "history", "explain", "recommend"} {
		c, _, err := newRoot(&globals{}).Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Flags().Set("since", "7d"); err != nil {
			t.Errorf("%s --since 7d: %v", cmd, err)
		}
	}
}

// TestNodewatchURL: the daemon's address is --nodewatch-url (default
// $NODEWATCH_URL) in every command that reads from it; --server, its old
// name, still works for one release, saying it is deprecated.
func TestNodewatchURL(t *testing.T) {
	for _, cmd := range []string{"incidents", "suspects", "explain", "history", "leaks", "recommend", "rebalance", "top"} {
		g := &globals{getenv: func(k string) string {
			if k == EnvNodewatchURL {
				return "http://nodewatch.monitoring:8080"
			}
			return ""
		}}
		c, _, err := newRoot(g).Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup("nodewatch-url")
		if f == nil || f.DefValue != "http://nodewatch.monitoring:8080" {
			t.Errorf("%s: --nodewatch-url %+v, want the default from $%s", cmd, f, EnvNodewatchURL)
			continue
		}
		if err := c.Flags().Set("server", "http://old:8080"); err != nil || f.Value.String() != "http://old:8080" {
			t.Errorf("%s --server: %v, --nodewatch-url now %s", cmd, err, f.Value)
		}
		if s := c.Flags().Lookup("server"); s.Deprecated == "" {
			t.Errorf("%s: --server is not marked deprecated", cmd)
		}
	}
}

// TestMinGrowthUnits: leaks --min-growth takes and prints units (it was
// bytes per hour printed as 5.24288e+06).
func TestMinGrowthUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{{"5Mi/h", 5 << 20}, {"100MiB/h", 100 << 20}, {"1Gi/h", 1 << 30}, {"5242880", 5 << 20}, {"1Mi", 1 << 20}} {
		var v float64
		if err := (bytesPerHour{&v}).Set(tc.in); err != nil || v != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.in, v, err, tc.want)
		}
	}
	if err := (bytesPerHour{new(float64)}).Set("fast"); err == nil {
		t.Error("'fast' was taken")
	}
	c, _, err := newRoot(&globals{}).Find([]string{"leaks"})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Flags().Lookup("min-growth").DefValue; d != "5Mi/h" {
		t.Errorf("--min-growth's default shows as %q, want 5Mi/h", d)
	}
}

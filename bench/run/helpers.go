package main

import (
	"context"
	"fmt"
	"math"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ---- helpers ----

// waitFor polls cond (every 100 ms, or the given interval) until it holds.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool, every ...time.Duration) error {
	interval := 100 * time.Millisecond
	if len(every) > 0 {
		interval = every[0]
	}
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

type row struct {
	name string
	xs   []float64
}

func printRows(rows []row) {
	fmt.Printf("%-46s %4s %9s %9s %9s %9s %9s %9s\n", "measure", "n", "min", "p50", "p90", "p99", "max", "mean")
	for _, r := range rows {
		if len(r.xs) == 0 {
			fmt.Printf("%-46s %4d\n", r.name, 0)
			continue
		}
		fmt.Printf("%-46s %4d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", r.name, len(r.xs),
			slices.Min(r.xs), pct(r.xs, 50), pct(r.xs, 90), pct(r.xs, 99), slices.Max(r.xs), mean(r.xs))
	}
}

// pct is the nearest-rank percentile.
func pct(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func mb(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }

func pick(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func cmpDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench/run: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s/%s", goruntime.NumCPU(), model, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
}

func reproduce() string {
	args := []string{"go", "run", "./bench/run"}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \"'$") {
			a = strconv.Quote(a)
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

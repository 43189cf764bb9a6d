package eval

import (
	"fmt"
	"io"
	"strings"
)

// Totals sums the results of each strategy over the non-leak traces.
func Totals(results []Result, traces []Trace) map[string]Result {
	leak := leakTraces(traces)
	out := map[string]Result{}
	for _, r := range results {
		if leak[r.Trace] {
			continue
		}
		t := out[r.Strategy]
		t.Trace, t.Strategy = "total (non-leak)", r.Strategy
		t.MemoryWaste += r.MemoryWaste
		t.CPUWaste += r.CPUWaste
		t.OOMEvents += r.OOMEvents
		t.LimitSlack += r.LimitSlack
		t.PeakToLimit = max(t.PeakToLimit, r.PeakToLimit)
		out[r.Strategy] = t
	}
	return out
}

// Markdown writes the results as a Markdown table, one row per trace and
// strategy, then the totals over the non-leak traces.
func Markdown(w io.Writer, results []Result, traces []Trace, strategies []Strategy) error {
	var b strings.Builder
	b.WriteString("| trace | strategy | memory waste GiB·h | memory time above request | OOM events | highest demand / limit | limit above use GiB·h | CPU waste core·h | CPU time above request | final request / limit (MiB), CPU (m) |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range results {
		final := fmt.Sprintf("%.0f / %.0f, %.0f", r.Final.MemoryRequest/mib, r.Final.MemoryLimit/mib, r.Final.CPURequest*1000)
		if r.FlaggedLeak {
			final = "**flagged as a leak**, no size"
		} else if !r.Final.OK {
			final = "none"
		}
		if r.FlaggedLeak && !r.Final.OK {
			fmt.Fprintf(&b, "| %s | %s | – | – | %d | – | – | – | – | %s |\n", r.Trace, r.Strategy, r.OOMEvents, final)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f %% | %d | %.2f | %.1f | %.2f | %.1f %% | %s |\n", r.Trace, r.Strategy,
			r.MemoryWaste, 100*r.MemoryAboveRequest, r.OOMEvents, r.PeakToLimit, r.LimitSlack, r.CPUWaste, 100*r.CPUAboveRequest, final)
	}
	totals := Totals(results, traces)
	for _, s := range strategies {
		t := totals[s.Name()]
		fmt.Fprintf(&b, "| **total, non-leak traces** | **%s** | **%.1f** | | **%d** | **%.2f** | **%.1f** | **%.2f** | | |\n", s.Name(), t.MemoryWaste, t.OOMEvents, t.PeakToLimit, t.LimitSlack, t.CPUWaste)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Command eval-recommend replays the synthetic usage traces through
// nodewatch's recommender, VPA's and KRR's simple strategy, and prints
// waste and risk per trace as a Markdown table (docs/recommend-eval.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize/eval"
)

func main() {
	days := flag.Int("days", 21, "length of each trace in days (the first week is history only)")
	step := flag.Duration("step", time.Minute, "sample interval")
	seed := flag.Uint64("seed", 1, "seed of the synthetic traces")
	seeds := flag.Int("seeds", 0, "also summarise seeds 1..N (OOM events and total waste per strategy)")
	flag.Parse()
	err := run(*days, *step, *seed)
	if err == nil && *seeds > 0 {
		err = summary(*days, *step, *seeds)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eval-recommend:", err)
		os.Exit(2)
	}
}

func run(days int, step time.Duration, seed uint64) error {
	if days < 8 || step <= 0 {
		return fmt.Errorf("need -days ≥ 8 and a positive -step, got %d and %s", days, step)
	}
	c := eval.DefaultConfig()
	traces := eval.Traces(days, step, seed)
	strategies := eval.Strategies()
	results, err := eval.Run(traces, strategies, c)
	if err != nil {
		return err
	}
	fmt.Printf("%d-day traces at %s (seed %d): %s of history, then a recommendation applied every %s and scored against the next.\n\n",
		days, step, seed, c.Warmup, c.Every)
	return eval.Markdown(os.Stdout, results, traces, strategies)
}

func summary(days int, step time.Duration, seeds int) error {
	strategies := eval.Strategies()
	fmt.Printf("\nSeeds 1–%d, non-leak traces:\n\n", seeds)
	fmt.Println("| strategy | OOM events (sum) | seeds with any OOM event | traces with OOM events | memory waste GiB·h (mean) | CPU waste core·h (mean) |")
	fmt.Println("| --- | ---: | ---: | --- | ---: | ---: |")
	type agg struct {
		ooms, seedsHit int
		mem, cpu       float64
		traces         map[string]int
	}
	acc := map[string]*agg{}
	for _, s := range strategies {
		acc[s.Name()] = &agg{traces: map[string]int{}}
	}
	for seed := range uint64(seeds) {
		traces := eval.Traces(days, step, seed+1)
		results, err := eval.Run(traces, strategies, eval.DefaultConfig())
		if err != nil {
			return err
		}
		leak := map[string]bool{}
		for _, t := range traces {
			leak[t.Name] = t.Leak
		}
		hit := map[string]bool{}
		for _, r := range results {
			if leak[r.Trace] || r.OOMEvents == 0 {
				continue
			}
			a := acc[r.Strategy]
			a.ooms += r.OOMEvents
			a.traces[r.Trace]++
			hit[r.Strategy] = true
		}
		for name, t := range eval.Totals(results, traces) {
			acc[name].mem += t.MemoryWaste / float64(seeds)
			acc[name].cpu += t.CPUWaste / float64(seeds)
			if hit[name] {
				acc[name].seedsHit++
			}
		}
	}
	for _, s := range strategies {
		a := acc[s.Name()]
		var where []string
		for tr, n := range a.traces {
			where = append(where, fmt.Sprintf("%s (%d seeds)", tr, n))
		}
		slices.Sort(where)
		fmt.Printf("| %s | %d | %d | %s | %.1f | %.2f |\n", s.Name(), a.ooms, a.seedsHit, strings.Join(where, ", "), a.mem, a.cpu)
	}
	return nil
}

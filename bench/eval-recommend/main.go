// Command eval-recommend replays the synthetic usage traces through
// nodewatch's recommender, VPA's and KRR's simple strategy, and prints
// waste and risk per trace as a Markdown table, then a summary over the
// design seeds and over the held-out seeds (docs/recommend-eval.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize/eval"
)

func main() {
	days := flag.Int("days", 21, "length of each trace in days (the first week is history only)")
	step := flag.Duration("step", time.Minute, "sample interval")
	seed := flag.Uint64("seed", 1, "seed of the synthetic traces in the full table")
	seeds := flag.Int("seeds", 0, "also summarise the design seeds 1..N")
	heldOut := flag.Int("held-out", 0, "also summarise the held-out seeds 11..10+N (not looked at while designing)")
	workers := flag.Int("workers", 2, "seeds replayed at once")
	flag.Parse()
	err := run(*days, *step, *seed)
	if err == nil && *seeds > 0 {
		err = summary(fmt.Sprintf("Design seeds 1–%d", *seeds), eval.SeedRange(1, uint64(*seeds)), *days, *step, *workers)
	}
	if err == nil && *heldOut > 0 {
		err = summary(fmt.Sprintf("Held-out seeds 11–%d", 10+*heldOut), eval.SeedRange(11, 10+uint64(*heldOut)), *days, *step, *workers)
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

func summary(title string, seeds []uint64, days int, step time.Duration, workers int) error {
	strategies := eval.Strategies()
	runs, err := eval.RunSeeds(seeds, days, step, strategies, eval.DefaultConfig(), workers)
	if err != nil {
		return err
	}
	fmt.Printf("\n%s, non-leak traces, per-seed totals:\n\n", title)
	return eval.SummaryMarkdown(os.Stdout, eval.Summarize(runs, strategies))
}

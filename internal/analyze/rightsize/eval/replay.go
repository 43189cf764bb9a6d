package eval

import (
	"fmt"
	"time"

	"github.com/nodewatch/nodewatch/internal/analyze/rightsize"
)

// Config is the replay's schedule.
type Config struct {
	// Warmup is the history observed before the first recommendation,
	// with no limits in force; Every how often the strategy recommends
	// again and the result is applied.
	Warmup, Every time.Duration
}

// DefaultConfig: a week of history, then a recommendation a day.
func DefaultConfig() Config { return Config{Warmup: 7 * 24 * time.Hour, Every: 24 * time.Hour} }

// Result is one strategy's score on one trace, over the scored part
// (after the warm-up).
type Result struct {
	Trace, Strategy string
	// MemoryWaste is Σ max(0, request − used) in GiB·h; CPUWaste in core·h.
	MemoryWaste, CPUWaste float64
	// MemoryAboveRequest and CPUAboveRequest are the shares of running
	// time used above the request.
	MemoryAboveRequest, CPUAboveRequest float64
	// OOMEvents counts samples whose demand exceeded the limit.
	OOMEvents int
	// PeakToLimit is the highest demand over the limit in force (above 1:
	// an OOM event), how close to its limit the container came; LimitSlack
	// is Σ max(0, limit − used) in GiB·h, the memory a node lets the
	// container claim beyond what it uses (not reserved, but overcommitted
	// if the node's limits add up beyond its memory).
	PeakToLimit, LimitSlack float64
	// FlaggedLeak is true when the strategy called it a leak (and gave
	// no size) at any recommendation.
	FlaggedLeak bool
	// Final is the last recommendation applied.
	Final Sizes
}

// Replay runs strategy s over trace tr in the closed loop described in
// the package doc.
func Replay(tr Trace, s Strategy, c Config) (Result, error) {
	res := Result{Trace: tr.Name, Strategy: s.Name()}
	if c.Warmup <= 0 || c.Every <= 0 || tr.Step <= 0 {
		return res, fmt.Errorf("replay %s: warmup, every and step must be positive", tr.Name)
	}
	if len(tr.CPU) != len(tr.Memory) || (tr.Batch && len(tr.Run) != len(tr.Memory)) {
		return res, fmt.Errorf("replay %s: memory, CPU and run series differ in length", tr.Name)
	}
	var (
		h        = History{Batch: tr.Batch}
		cur      Sizes // in force; zero: no request, no limit
		period   = -1  // index of the rollout (non-batch pods)
		lastRun  = -1
		podIdx   = -1
		started  = 0 // sample the container last started at (for Growth)
		next     = tr.Start.Add(c.Warmup)
		running  time.Duration
		aboveMem time.Duration
		aboveCPU time.Duration
	)
	hours := tr.Step.Hours()
	newPod := func(name string) {
		h.Pods = append(h.Pods, rightsize.Pod{Name: name, MemoryLimit: cur.MemoryLimit,
			MemoryRequest: cur.MemoryRequest, CPURequest: cur.CPURequest})
		podIdx = len(h.Pods) - 1
	}
	for i := range tr.Memory {
		t := tr.Start.Add(time.Duration(i) * tr.Step)
		scored := !t.Before(tr.Start.Add(c.Warmup))
		if !t.Before(next) {
			rec := s.Recommend(h, t)
			switch {
			case rec.Leak:
				res.FlaggedLeak = true
			case rec.OK:
				if rec != cur {
					started = i // applying new resources restarts the container
				}
				cur = rec
				res.Final = rec
			}
			next = next.Add(c.Every)
			period = -1 // the next sample starts a new pod
		}
		if tr.Batch {
			run := tr.Run[i]
			if run < 0 {
				continue
			}
			if run != lastRun {
				lastRun, started = run, i
				newPod(fmt.Sprintf("run-%d", run))
			}
		} else if period < 0 {
			period = len(h.Pods)
			newPod(fmt.Sprintf("pod-%d", period))
		}
		demand := tr.Memory[i] + tr.Growth*float64(i-started)
		used := demand
		p := &h.Pods[podIdx]
		if cur.MemoryLimit > 0 && demand > cur.MemoryLimit {
			used = cur.MemoryLimit
			p.OOMKills = append(p.OOMKills, t)
			if tr.Growth > 0 {
				started = i // the kill restarts the leak
			}
			if scored {
				res.OOMEvents++
			}
		}
		p.Memory = append(p.Memory, rightsize.Sample{T: t, V: used})
		p.CPU = append(p.CPU, rightsize.Sample{T: t, V: tr.CPU[i]})
		if !scored {
			continue
		}
		running += tr.Step
		res.MemoryWaste += max(0, cur.MemoryRequest-used) / gib * hours
		if cur.MemoryLimit > 0 {
			res.LimitSlack += max(0, cur.MemoryLimit-used) / gib * hours
			res.PeakToLimit = max(res.PeakToLimit, demand/cur.MemoryLimit)
		}
		res.CPUWaste += max(0, cur.CPURequest-tr.CPU[i]) * hours
		if used > cur.MemoryRequest {
			aboveMem += tr.Step
		}
		if tr.CPU[i] > cur.CPURequest {
			aboveCPU += tr.Step
		}
	}
	if running > 0 {
		res.MemoryAboveRequest = aboveMem.Seconds() / running.Seconds()
		res.CPUAboveRequest = aboveCPU.Seconds() / running.Seconds()
	}
	return res, nil
}

// Strategies are the three compared, nodewatch's with its defaults.
func Strategies() []Strategy {
	return []Strategy{Nodewatch{Options: rightsize.DefaultOptions(), Window: 14 * 24 * time.Hour}, VPA{}, KRR{}}
}

// Run replays every trace through every strategy.
func Run(traces []Trace, strategies []Strategy, c Config) ([]Result, error) {
	var out []Result
	for _, tr := range traces {
		for _, s := range strategies {
			r, err := Replay(tr, s, c)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Package culprit ranks workloads by how strongly they are tied to node
// failures. Being on a failed node means little by itself — a DaemonSet is
// on every node, a big Deployment on most — so each workload's presence on
// failed nodes is tested against its base rate: the share of nodes it runs
// on. The score is −log10 of the binomial probability of being present at
// least that often by chance; a DaemonSet present everywhere scores 0.
// Missing memory limits add evidence; leak evidence is added by the caller.
package culprit

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Workload names a workload.
type Workload struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
}

func (w Workload) String() string { return w.Namespace + "/" + w.Kind + "/" + w.Name }

// Failure is one node failure with the workloads that had pods on the node.
type Failure struct {
	Node      string
	Workloads []Workload
	// Unbounded are the workloads among them with a pod without a memory limit.
	Unbounded []Workload
}

// Presence is how widely a workload runs: on how many of the nodes.
type Presence struct {
	Nodes, Of int
}

// Suspect is one ranked workload.
type Suspect struct {
	Workload
	Score float64 `json:"score"`
	// Failures counts the failures the workload was present at, of Total.
	Failures int `json:"failures"`
	Total    int `json:"totalFailures"`
	// BaseRate is the share of nodes the workload runs on.
	BaseRate float64 `json:"baseRate"`
	// NoLimit is set when its pods on failed nodes had no memory limit.
	NoLimit  bool     `json:"noMemoryLimit"`
	Evidence []string `json:"evidence"`
}

// Rank scores every workload present at any failure. presence gives each
// workload's spread over the nodes now (workloads missing from it are taken
// to run on one node); extra adds a score and a sentence per workload (leak
// evidence). Best first.
func Rank(failures []Failure, presence map[Workload]Presence, extra map[Workload]Evidence) []Suspect {
	n := len(failures)
	seen := map[Workload]*Suspect{}
	for _, f := range failures {
		for _, w := range uniq(f.Workloads) {
			s := seen[w]
			if s == nil {
				s = &Suspect{Workload: w, Total: n}
				seen[w] = s
			}
			s.Failures++
		}
		for _, w := range uniq(f.Unbounded) {
			if s := seen[w]; s != nil {
				s.NoLimit = true
			}
		}
	}
	out := make([]Suspect, 0, len(seen))
	for w, s := range seen {
		p := presence[w]
		rate := 1.0
		if p.Of > 0 {
			rate = min(1, max(float64(max(p.Nodes, 1))/float64(p.Of), 1e-6))
		}
		s.BaseRate = rate
		tail := binomialTail(s.Failures, n, rate)
		s.Score = math.Max(0, -math.Log10(max(tail, 1e-300))) // no -0 for a sure thing
		s.Evidence = append(s.Evidence, fmt.Sprintf("on %d of %d failed nodes while it runs on %.0f%% of nodes (chance %.2g)",
			s.Failures, n, 100*rate, tail))
		if s.NoLimit {
			s.Score += 0.5
			s.Evidence = append(s.Evidence, "its pods there had no memory limit")
		}
		if e, ok := extra[w]; ok {
			s.Score += e.Score
			s.Evidence = append(s.Evidence, e.Sentence)
		}
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Suspect) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(a.String(), b.String()))
	})
	return out
}

// Evidence adds to a workload's score.
type Evidence struct {
	Score    float64
	Sentence string
}

// binomialTail is P(X ≥ k) for X ~ Binomial(n, p).
func binomialTail(k, n int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if p >= 1 {
		return 1
	}
	sum := 0.0
	for i := k; i <= n; i++ {
		lg := lgamma(n+1) - lgamma(i+1) - lgamma(n-i+1) + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p)
		sum += math.Exp(lg)
	}
	return min(sum, 1)
}

func lgamma(x int) float64 {
	v, _ := math.Lgamma(float64(x))
	return v
}

func uniq(ws []Workload) []Workload {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b Workload) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}

package culprit

import (
	"math"
	"testing"
)

var (
	leaky    = Workload{"emails", "ReplicationController", "unanswered-emails"}
	exporter = Workload{"kube-system", "DaemonSet", "node-exporter"}
	web      = Workload{"web", "Deployment", "frontend"}
	cron     = Workload{"batch", "CronJob", "digest"}
)

// The story: the leaking consumer is on every failed node; a DaemonSet is
// too, but it is everywhere; the web tier runs on most nodes; a cron job
// happened to be on one failed node.
func TestRank(t *testing.T) {
	failures := []Failure{
		{Node: "n1", Workloads: []Workload{leaky, exporter, web}, Unbounded: []Workload{leaky}},
		{Node: "n4", Workloads: []Workload{leaky, exporter, web, cron}, Unbounded: []Workload{leaky}},
		{Node: "n7", Workloads: []Workload{leaky, exporter}, Unbounded: []Workload{leaky}},
		{Node: "n2", Workloads: []Workload{leaky, exporter, web}, Unbounded: []Workload{leaky}},
	}
	presence := map[Workload]Presence{
		leaky: {Nodes: 2, Of: 10}, exporter: {Nodes: 10, Of: 10}, web: {Nodes: 7, Of: 10}, cron: {Nodes: 1, Of: 10},
	}
	got := Rank(failures, presence, nil)
	if len(got) != 4 || got[0].Workload != leaky {
		t.Fatalf("ranking %+v, want the leaking consumer first", got)
	}
	byName := map[Workload]Suspect{}
	for _, s := range got {
		byName[s.Workload] = s
	}
	if s := byName[exporter]; s.Score != 0 || got[len(got)-1].Workload != exporter {
		t.Errorf("a DaemonSet on every node must rank last with score 0: %+v", s)
	}
	if s := byName[leaky]; s.Failures != 4 || s.Total != 4 || !s.NoLimit || len(s.Evidence) != 2 {
		t.Errorf("leaky: %+v", s)
	}
	// P(≥4 of 4 | p=0.2) = 0.0016 → score 2.8 (+0.5 for no limit).
	if s := byName[leaky]; math.Abs(s.Score-(-math.Log10(0.0016)+0.5)) > 0.01 {
		t.Errorf("leaky score %.3f", s.Score)
	}
}

func TestRankExtraEvidence(t *testing.T) {
	failures := []Failure{{Node: "n1", Workloads: []Workload{web, cron}}}
	presence := map[Workload]Presence{web: {Nodes: 1, Of: 2}, cron: {Nodes: 1, Of: 2}}
	got := Rank(failures, presence, map[Workload]Evidence{cron: {Score: 2, Sentence: "leaks 300 MiB/h"}})
	if got[0].Workload != cron || got[0].Evidence[len(got[0].Evidence)-1] != "leaks 300 MiB/h" {
		t.Errorf("leak evidence must lift the cron job: %+v", got)
	}
}

func TestBinomialTail(t *testing.T) {
	cases := []struct {
		k, n int
		p    float64
		want float64
	}{{0, 5, 0.3, 1}, {5, 5, 1, 1}, {1, 1, 0.25, 0.25}, {2, 2, 0.5, 0.25}, {1, 3, 0.5, 0.875}}
	for _, c := range cases {
		if got := binomialTail(c.k, c.n, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("P(X≥%d | %d, %v) = %v, want %v", c.k, c.n, c.p, got, c.want)
		}
	}
}

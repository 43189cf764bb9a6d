package leak

import (
	"math/rand/v2"
	"testing"
)

// TestMannKendallCountsEveryPair: the merge-sort count of S equals the sum
// over every pair, on series with many ties, steps and both trends, of
// every length up to 130 (odd merges included).
func TestMannKendallCountsEveryPair(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var a Analyzer
	for n := range 131 {
		for trial := range 5 {
			pts := make([]Sample, n)
			for i := range pts {
				v := float64(r.IntN(1 + trial*7)) // trial 0: all equal
				if trial == 4 {
					v += float64(i) / 10 // a trend
				}
				pts[i] = Sample{T: int64(i), V: v}
			}
			want := 0
			for i, p := range pts {
				for _, q := range pts[i+1:] {
					switch {
					case q.V > p.V:
						want++
					case q.V < p.V:
						want--
					}
				}
			}
			s, variance := a.mannKendall(pts)
			nf := float64(n)
			if s != float64(want) || variance != nf*(nf-1)*(2*nf+5)/18 {
				t.Fatalf("n=%d trial %d: S %v, want %d (variance %v)", n, trial, s, want, variance)
			}
		}
	}
}

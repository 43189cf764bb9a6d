package collect

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// Sample is one value of one series at one time (Unix milliseconds).
type Sample struct {
	Labels labels.Labels
	T      int64
	V      float64
}

// Limits bound what a scrape may bring in.
const (
	maxLabelValue = 1024
	maxLabels     = 32
	// maxSamples bounds one endpoint's samples and a node's together
	// (see scrapeOne): a kubelet's real answer keeps a few per container.
	maxSamples = 200_000
)

// Rejected counts samples a parse refused, by reason.
type Rejected map[string]int

// Parse reads Prometheus text exposition (what kubelets serve) with
// Prometheus' own parser. keep selects metric names (nil keeps all); extra
// labels are added to every sample; every sample is stamped t, the
// scrape's time, and a timestamp in the exposition is ignored (Prometheus'
// honor_timestamps: false, as kube-prometheus scrapes cAdvisor): one clock
// for every node, so a node whose clock is skewed or jumps cannot misplace
// its samples, and evenly spaced timestamps cost a bit each in a TSDB chunk
// where the kubelets' jittered ones cost two bytes. Samples with NaN, ±Inf
// or negative values, more than 32 labels or label values over 1 KiB, and
// those past the first 200,000, are refused and counted, not stored. A syntax error ends the
// parse with an error naming the byte position; the samples read before it
// are returned.
func Parse(b []byte, keep func(name string) bool, extra labels.Labels, t int64) ([]Sample, Rejected, error) {
	p := textparse.NewPromParser(b, labels.NewSymbolTable(), false)
	var out []Sample
	rej := Rejected{}
	var lb labels.Labels
	builder := labels.NewScratchBuilder(8)
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, rej, nil
		}
		if err != nil {
			return out, rej, fmt.Errorf("malformed exposition: %w", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		p.Labels(&lb)
		name := lb.Get(model.MetricNameLabel)
		if keep != nil && !keep(name) {
			continue
		}
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			rej["nan_or_inf"]++
			continue
		case v < 0:
			rej["negative"]++
			continue
		}
		if lb.Len() > maxLabels {
			rej["too_many_labels"]++
			continue
		}
		tooLong := false
		builder.Reset()
		lb.Range(func(l labels.Label) {
			if len(l.Value) > maxLabelValue {
				tooLong = true
			}
			if extra.Get(l.Name) == "" {
				builder.Add(l.Name, l.Value)
			}
		})
		if tooLong {
			rej["label_too_long"]++
			continue
		}
		extra.Range(func(l labels.Label) { builder.Add(l.Name, l.Value) })
		builder.Sort()
		if len(out) == maxSamples {
			rej["too_many_samples"]++
			continue
		}
		out = append(out, Sample{Labels: builder.Labels(), T: t, V: v})
	}
}

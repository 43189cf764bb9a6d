package app

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/notify"
)

// One NodeNotReady alert delivered to two sinks is one observation per
// sink, not two in one series.
func TestDetectionLatencyPerSink(t *testing.T) {
	m := newMetrics(func() map[string]int { return nil }, []string{"log", "slack"}, func() int { return 0 }, time.Now)
	since := time.Now().Add(-2 * time.Second)
	msg := &notify.Message{Rule: detect.NodeNotReady, Status: notify.Firing, Nodes: []health.NodeReport{{Name: "a", Since: &since}}}
	m.Sent("log", msg, since.Add(time.Second))
	m.Sent("slack", msg, since.Add(time.Second))
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Fatalf("%d latency series, want one per sink", n)
	}
	if c := testutil.ToFloat64(m.sent.WithLabelValues("slack")); c != 1 {
		t.Errorf("sent{slack} = %v, want 1", c)
	}
}

package cli

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/report"
)

// TestExplainGolden: a node's timeline from its incidents (out-of-range
// entries dropped), its likely cause, the heaviest pod's memory and the
// page faults, in text and JSON.
func TestExplainGolden(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 11, 0, 0, 0, time.UTC)
	end := t0.Add(52 * time.Minute)
	incs := []incident.Incident{{
		ID: "20261129-115130-3f2a1b", Rule: "NodeNotReady", Node: "ip-172-20-1-11", Start: t0.Add(51*time.Minute + 30*time.Second),
		Since: t0.Add(51 * time.Minute), End: &end, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
		Notifications: []incident.Notification{
			{Key: "20261129-115130-3f2a1b/NodeLeaseStale/firing", Rule: "NodeLeaseStale", Status: "firing", At: t0.Add(51*time.Minute + 30*time.Second)},
			{Key: "20261129-115130-3f2a1b/NodeNotReady/firing", Rule: "NodeNotReady", Status: "firing", At: t0.Add(51*time.Minute + 55*time.Second)},
		},
		Events: []incident.Event{
			{Time: t0.Add(-3 * time.Hour), Type: "Warning", Reason: "Old", Message: "before the range"},
			{Time: t0.Add(51*time.Minute + 56*time.Second), Type: "Normal", Reason: "NodeNotReady", Message: "Node ip-172-20-1-11 status is now: NodeNotReady"},
		},
		Cause: &health.Cause{Summary: "emails/ReplicationController/unanswered-emails — +1.1 GiB/h for 5h, no memory limit, 3.9 GiB at failure",
			Evidence: []string{"emails/other-1 also grew +60 MiB/h"}},
	}}
	x := Explanation{Node: "ip-172-20-1-11", From: t0, To: t0.Add(time.Hour), Entries: timeline(incs, t0, t0.Add(time.Hour)),
		Causes: []health.Cause{*incs[0].Cause}}
	pod := ContainerHistory{Namespace: "emails", Pod: "unanswered-emails-x7k2p", Node: x.Node}
	for i := range 12 {
		b := int64(500<<20) + int64(i)*int64(300<<20)
		pod.Points = append(pod.Points, Point{Time: t0.Add(time.Duration(i) * 5 * time.Minute), Bytes: b})
		pod.Max, pod.Last = b, b
	}
	pod.Min = pod.Points[0].Bytes
	x.Pods = []ContainerHistory{pod}
	for i, v := range []float64{2, 3, 2, 2, 40, 812} {
		x.PageFaults = append(x.PageFaults, Rate{Time: t0.Add(time.Duration(46+i) * time.Minute), Value: v})
	}
	x.KubeletLog = []string{
		`I1129 11:50:58.102 eviction_manager.go:366] "Eviction manager: attempting to reclaim" resourceName="memory"`,
		`E1129 11:51:20.532 kubelet.go:2352] "Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active 3m0.1s ago"`,
	}
	if len(x.Entries) != 5 {
		t.Errorf("timeline has %d entries, want 5 (the 3-hour-old event is outside): %+v", len(x.Entries), x.Entries)
	}
	for _, format := range []report.Format{report.Text, report.JSON} {
		var b bytes.Buffer
		if err := report.Write(&b, format, x, func(w io.Writer) error { return explainText(w, &x) }); err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, "explain-node."+string(format), []byte(b.String()))
	}
}

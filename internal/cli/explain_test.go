package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/golden"
	"github.com/nodewatch/nodewatch/internal/health"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/kube"
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
		golden.Assert(t, "explain-node."+string(format), b.Bytes())
	}
}

// explain's kubelet log: an incident's own kept lines first; for a node, the
// lines read now, or, where its kubelet does not answer now, those its
// newest incident kept; and why there are none.
func TestExplainKubeletLog(t *testing.T) {
	answer := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/nodes/n1/proxy/logs/" || !answer {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`) // the client under test sees what arrived
			return
		}
		_, _ = fmt.Fprint(w, "I1129 kubelet.go:1] read now\n") // the client under test sees what arrived
	}))
	defer srv.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n", srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globals{access: kube.Access{Kubeconfig: kubeconfig}}
	t0 := time.Date(2026, 11, 29, 11, 0, 0, 0, time.UTC)
	older := incident.Incident{ID: "old", Node: "n1", Start: t0, KubeletLog: []string{"I1129 kubelet.go:1] older"}}
	newer := incident.Incident{ID: "new", Node: "n1", Start: t0.Add(time.Hour), KubeletLog: []string{"E1129 a", "E1129 b", "E1129 PLEG is not healthy"}}
	lost := incident.Incident{ID: "lost", Node: "n1", Start: t0, KubeletLogMissing: "n1's kubelet does not answer log queries"}
	ctx := context.Background()

	x := Explanation{Node: "n1"}
	x.addKubeletLog(ctx, g, 2, []incident.Incident{newer}, true)
	if strings.Join(x.KubeletLog, "|") != "E1129 b|E1129 PLEG is not healthy" || x.KubeletLogIncident != "new" || len(x.Missing) != 0 {
		t.Errorf("explain incident: %q from %q, missing %q; want the incident's last 2 kept lines", x.KubeletLog, x.KubeletLogIncident, x.Missing)
	}
	x = Explanation{Node: "n1"}
	x.addKubeletLog(ctx, g, 20, []incident.Incident{older, newer}, false)
	if strings.Join(x.KubeletLog, "|") != "I1129 kubelet.go:1] read now" || x.KubeletLogIncident != "" {
		t.Errorf("explain node, kubelet answering: %q from %q", x.KubeletLog, x.KubeletLogIncident)
	}
	answer = false
	x = Explanation{Node: "n1"}
	x.addKubeletLog(ctx, g, 20, []incident.Incident{older, newer}, false)
	if x.KubeletLogIncident != "new" || len(x.KubeletLog) != 3 || len(x.Missing) != 1 ||
		!strings.Contains(x.Missing[0], "does not answer log queries") || !strings.Contains(x.Missing[0], "kept with incident new") {
		t.Errorf("explain node, kubelet silent: %q from %q, missing %q; want the newest incident's kept lines and why", x.KubeletLog, x.KubeletLogIncident, x.Missing)
	}
	x = Explanation{Node: "n1"}
	x.addKubeletLog(ctx, g, 20, []incident.Incident{lost}, false)
	if len(x.KubeletLog) != 0 || len(x.Missing) != 2 || x.Missing[1] != "kubelet log at incident lost: n1's kubelet does not answer log queries" {
		t.Errorf("nothing kept: %q, missing %q", x.KubeletLog, x.Missing)
	}
	var b bytes.Buffer
	x = Explanation{Node: "n1", KubeletLog: newer.KubeletLog, KubeletLogIncident: "new"}
	if err := explainText(&b, &x); err != nil || !strings.Contains(b.String(), "KUBELET LOG (its last lines around the failure, kept with incident new)\n  E1129 a\n") {
		t.Errorf("text: %v\n%s", err, b.String())
	}
}

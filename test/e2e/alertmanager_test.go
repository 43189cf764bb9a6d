package e2e

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/alertmanager/amtest"
)

// amConfig routes everything to a receiver that sends nothing: the test
// reads what Alertmanager holds through its API, as its UI and amtool do.
const amConfig = `route: {receiver: default, group_wait: 1s, group_interval: 1s}
receivers: [{name: default}]
`

// TestRunAlertmanager: `nodewatch run --alertmanager-url` against a real
// Alertmanager. A node stops heartbeating → Alertmanager holds the early
// warning, then the NodeNotReady alert, labelled for routing and listing
// exactly the pods that were on the node; the node recovers → nodewatch
// resolves the NodeNotReady alert at once (not after resolve_timeout).
func TestRunAlertmanager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	amBin := amtest.Binary(t) // before the cluster: skip (or fail) at once
	c, nodes := storyCluster(t, ctx, 3)
	am := amtest.Start(t, amBin, amConfig)
	d := startDaemon(t, c.Kubeconfig, t.TempDir(), nil, "--alertmanager-url", am, "--group-window", "0")

	victim := nodes[1]
	want, err := c.PodsOnNode(ctx, victim)
	if err != nil || len(want) == 0 {
		t.Fatalf("pods on %s: %v %v", victim, want, err)
	}
	slices.Sort(want)
	if got := amtest.Alerts(t, am, `source="nodewatch"`); len(got) != 0 {
		t.Fatalf("healthy cluster: Alertmanager holds %s", describeAlerts(got))
	}

	failed := time.Now()
	if err := c.FailNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	early := waitAlert(t, ctx, am, 90*time.Second, "NodeLeaseStale", victim)
	t.Logf("early warning in Alertmanager after %s", time.Since(failed).Round(time.Second))
	if down := alertsFor(t, am, "NodeNotReady", victim); len(down) != 0 {
		t.Errorf("NodeNotReady was already in Alertmanager when the early warning arrived: the warning gave no head start")
	}
	assertNodeAlert(t, early, "NodeLeaseStale", "warning", victim, want, failed)

	down := waitAlert(t, ctx, am, 90*time.Second, "NodeNotReady", victim)
	t.Logf("NodeNotReady in Alertmanager after %s", time.Since(failed).Round(time.Second))
	assertNodeAlert(t, down, "NodeNotReady", "critical", victim, want, failed)
	for _, a := range amtest.Alerts(t, am, `source="nodewatch"`) {
		if n, ok := a.Labels["node"]; ok && n != victim {
			t.Errorf("alert about healthy node %s: %v", n, a.Labels)
		}
	}

	resolvedBefore := receivedResolved(t, am)
	if err := c.RecoverNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	recovered := time.Now()
	// The v2 API lists only alerts that have not ended: a resolved one is
	// gone. Within the minute, this can only be nodewatch's endsAt, not
	// Alertmanager's resolve_timeout (5m).
	waitFor(t, ctx, 60*time.Second, "the NodeNotReady alert resolved", func() bool {
		return len(alertsFor(t, am, "NodeNotReady", victim)) == 0
	})
	t.Logf("NodeNotReady resolved %s after the node recovered", time.Since(recovered).Round(time.Second))
	if n := receivedResolved(t, am); n <= resolvedBefore {
		t.Errorf("alertmanager_alerts_received_total{status=\"resolved\"} = %v, was %v: nodewatch posted no resolved alert", n, resolvedBefore)
	}
	waitFor(t, ctx, 30*time.Second, "the alertmanager outbox to drain", func() bool { return d.queued("alertmanager") == 0 })
	// The escalation to NodeNotReady resolved the early warning: nothing
	// about the recovered node stays active until a resolve_timeout.
	if stale := alertsFor(t, am, "NodeLeaseStale", victim); len(stale) != 0 {
		t.Errorf("the early warning for recovered node %s is still active in Alertmanager (endsAt %s)",
			victim, stale[0].EndsAt.Format(time.RFC3339))
	}
	d.stop()
}

// alertsFor lists nodewatch's unresolved alerts named alertname about node.
func alertsFor(t *testing.T, am, alertname, node string) []amtest.Alert {
	t.Helper()
	return amtest.Alerts(t, am, `source="nodewatch"`, fmt.Sprintf("alertname=%q", alertname), fmt.Sprintf("node=%q", node))
}

// waitAlert waits until Alertmanager holds exactly one active alertname
// alert about node.
func waitAlert(t *testing.T, ctx context.Context, am string, timeout time.Duration, alertname, node string) amtest.Alert {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := alertsFor(t, am, alertname, node)
		if len(got) == 1 && got[0].Status.State == "active" {
			return got[0]
		}
		if len(got) > 1 {
			t.Fatalf("%d %s alerts about %s, want one: %s", len(got), alertname, node, describeAlerts(got))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("no active %s alert about %s in Alertmanager within %s; it holds: %s",
				alertname, node, timeout, describeAlerts(amtest.Alerts(t, am)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// assertNodeAlert checks what Alertmanager routes on and what a person
// reads: the labels, exactly; the pods that were on the node, in the
// description and counted; when it started.
func assertNodeAlert(t *testing.T, a amtest.Alert, alertname, severity, node string, pods []string, failed time.Time) {
	t.Helper()
	wantLabels := map[string]string{"alertname": alertname, "node": node, "severity": severity, "source": "nodewatch"}
	if !maps.Equal(a.Labels, wantLabels) {
		t.Errorf("%s labels %v, want exactly %v", alertname, a.Labels, wantLabels)
	}
	desc := a.Annotations["description"]
	if !strings.HasPrefix(desc, "Node "+node) {
		t.Errorf("%s description does not start with the node:\n%s", alertname, desc)
	}
	var listed []string
	for _, line := range strings.Split(desc, "\n") {
		if item, ok := strings.CutPrefix(line, "- "); ok {
			listed = append(listed, strings.Fields(item)[0])
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, pods) {
		t.Errorf("%s lists pods %v, want exactly those on %s before it failed: %v\n%s", alertname, listed, node, pods, desc)
	}
	if a.Annotations["pods"] != strconv.Itoa(len(pods)) {
		t.Errorf("%s annotation pods=%q, want %d", alertname, a.Annotations["pods"], len(pods))
	}
	if !strings.Contains(a.Annotations["summary"], node) {
		t.Errorf("%s summary %q does not name %s", alertname, a.Annotations["summary"], node)
	}
	if a.Annotations["incident"] == "" {
		t.Errorf("%s has no incident annotation: %v", alertname, a.Annotations)
	}
	if a.StartsAt.Before(failed.Add(-time.Second)) || a.StartsAt.After(time.Now()) {
		t.Errorf("%s startsAt %s, want between the failure (%s) and now", alertname, a.StartsAt, failed.UTC())
	}
	if !a.EndsAt.After(time.Now()) {
		t.Errorf("firing %s has endsAt %s in the past", alertname, a.EndsAt)
	}
}

// receivedResolved reads alertmanager_alerts_received_total{status="resolved"}.
func receivedResolved(t *testing.T, am string) float64 {
	t.Helper()
	resp, err := http.Get(am + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "alertmanager_alerts_received_total{") && strings.Contains(line, `status="resolved"`) {
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				total += v
			}
		}
	}
	return total
}

func describeAlerts(as []amtest.Alert) string {
	if len(as) == 0 {
		return "no alerts"
	}
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "\n  %s %v startsAt=%s endsAt=%s", a.Status.State, a.Labels, a.StartsAt.Format(time.RFC3339), a.EndsAt.Format(time.RFC3339))
	}
	return b.String()
}

package alertmanager

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/alertmanager/amtest"
)

// The real-peer contract: nodewatch's alerts as a real Alertmanager takes
// them. hack/build-peers.sh builds the binary; without it the test skips,
// unless NODEWATCH_REQUIRE_PEERS is set (CI), where it fails (see amtest).

// webhookNotification is what Alertmanager's webhook receiver posts: how it
// passes a firing or resolved alert on to people.
type webhookNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		EndsAt      time.Time         `json:"endsAt"`
	} `json:"alerts"`
}

func TestRealAlertmanager(t *testing.T) {
	bin := amtest.Binary(t)

	// Alertmanager passes what it receives on to this webhook, so the test
	// sees the resolution the way a pager would.
	var mu sync.Mutex
	var notifications []webhookNotification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n webhookNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("Alertmanager's webhook notification: %v", err)
		}
		mu.Lock()
		notifications = append(notifications, n)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	base := amtest.Start(t, bin, fmt.Sprintf(`route: {receiver: default, group_wait: 1s, group_interval: 1s}
receivers: [{name: default, webhook_configs: [{url: %q, send_resolved: true}]}]
`, hook.URL))

	n, err := New(Options{URL: base}, nil)
	if err != nil {
		t.Fatal(err)
	}
	incident := fmt.Sprintf("real-%d", time.Now().UnixNano())
	start := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
	msg := firing(incident, start)
	msg.At = time.Now().UTC()

	if retry, err := n.Notify(context.Background(), msg); err != nil {
		t.Fatalf("firing: retry=%v err=%v", retry, err)
	}
	var got []amtest.Alert
	eventually(t, "both node alerts active", func() bool {
		got = incidentAlerts(t, base, incident)
		return len(got) == 2 && got[0].Status.State == "active" && got[1].Status.State == "active"
	})
	for i, a := range got {
		node := msg.Nodes[i].Name
		want := map[string]string{"alertname": "NodeNotReady", "severity": "critical", "node": node, "source": "nodewatch"}
		for k, v := range want {
			if a.Labels[k] != v {
				t.Errorf("alert %d: label %s=%q, want %q (labels %v)", i, k, a.Labels[k], v, a.Labels)
			}
		}
		if len(a.Labels) != len(want) {
			t.Errorf("alert %d: labels %v, want exactly %v", i, a.Labels, want)
		}
		if !a.StartsAt.Equal(start) {
			t.Errorf("alert %d: startsAt %v, want %v", i, a.StartsAt, start)
		}
		if !a.EndsAt.After(time.Now()) {
			t.Errorf("alert %d: firing alert has endsAt %v in the past", i, a.EndsAt)
		}
		if a.GeneratorURL != msg.URL || a.Annotations["summary"] != msg.Title || !strings.Contains(a.Annotations["description"], "Node "+node) ||
			a.Annotations["pods"] != strconv.Itoa(len(msg.Nodes[i].Pods)) {
			t.Errorf("alert %d: generatorURL %q, annotations %v", i, a.GeneratorURL, a.Annotations)
		}
	}
	eventually(t, "Alertmanager notifies the firing alerts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(notifications) > 0 && notifications[0].Status == "firing" && len(notifications[0].Alerts) == 2
	})

	// Resolve: the same labels with endsAt now.
	end := time.Now().UTC()
	if retry, err := n.Notify(context.Background(), resolvedMsg(msg, end)); err != nil {
		t.Fatalf("resolved: retry=%v err=%v", retry, err)
	}
	// The v2 API lists only alerts that have not ended: resolved ones vanish.
	eventually(t, "the alerts gone from the active list", func() bool { return len(incidentAlerts(t, base, incident)) == 0 })
	var resolved webhookNotification
	eventually(t, "Alertmanager notifies the resolution", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range notifications {
			if n.Status == "resolved" {
				resolved = n
				return true
			}
		}
		return false
	})
	if len(resolved.Alerts) != 2 {
		t.Fatalf("resolved notification carries %d alerts, want 2", len(resolved.Alerts))
	}
	for _, a := range resolved.Alerts {
		if a.Status != "resolved" || a.Annotations["incident"] != incident || a.EndsAt.Sub(end).Abs() > time.Millisecond {
			t.Errorf("resolved alert: status %s, labels %v, endsAt %v (want %v)", a.Status, a.Labels, a.EndsAt, end)
		}
		if !a.EndsAt.Before(time.Now()) {
			t.Errorf("resolved alert ends in the future: %v", a.EndsAt)
		}
	}
	if c := receivedResolved(t, base); c < 2 {
		t.Errorf("alertmanager_alerts_received_total{status=\"resolved\"} = %v, want ≥ 2", c)
	}

	// A wrong path prefix is a configuration error: Alertmanager's 404 is
	// permanent, not retried forever.
	wrong, err := New(Options{URL: base + "/wrong-prefix"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := wrong.Notify(context.Background(), msg); err == nil || retry || !strings.Contains(err.Error(), "404") {
		t.Errorf("wrong prefix: retry=%v err=%v; want a permanent 404 error", retry, err)
	}
}

// incidentAlerts lists the incident's unresolved alerts.
func incidentAlerts(t *testing.T, base, incident string) []amtest.Alert {
	t.Helper()
	var alerts []amtest.Alert
	for _, a := range amtest.Alerts(t, base, `source="nodewatch"`) {
		if a.Annotations["incident"] == incident {
			alerts = append(alerts, a)
		}
	}
	// Alertmanager sorts by fingerprint; the test compares in node order.
	if len(alerts) == 2 && alerts[0].Labels["node"] > alerts[1].Labels["node"] {
		alerts[0], alerts[1] = alerts[1], alerts[0]
	}
	return alerts
}

// receivedResolved reads alertmanager_alerts_received_total{status="resolved"}.
func receivedResolved(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // the test reads what it needs first
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "alertmanager_alerts_received_total{") && strings.Contains(line, `status="resolved"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				total += v
			}
		}
	}
	return total
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

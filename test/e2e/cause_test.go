package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestLikelyCauseInAlert: the story in small. A workload without a memory
// limit leaks on a node among steady ones; the node thrashes (its major
// page faults jump) and stops heartbeating. The node's alerts name the
// leaking workload and the page faults, from the history nodewatch kept.
func TestLikelyCauseInAlert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, _ := usageCluster(t, ctx, simcluster.Options{NodeMonitorGracePeriod: graceForRun}, 1, simcluster.NodeSize{})
	workloads := []simcluster.Workload{
		{Namespace: "web", Name: "frontend", Replicas: 2, MemoryRequest: "256Mi", MemoryLimit: "512Mi",
			Annotations: map[string]string{simcluster.AnnotationMemory: "300Mi"}},
		{Namespace: "emails", Name: "unanswered-emails", Replicas: 1,
			Annotations: map[string]string{simcluster.AnnotationMemory: "500Mi", simcluster.AnnotationLeak: "300"}},
	}
	deploy(t, ctx, c, workloads...)
	victim := "node-0"
	rx := slacktest.New()
	defer rx.Close()
	d := startDaemon(t, c.Kubeconfig, t.TempDir(), []string{"NODEWATCH_SLACK_WEBHOOK=" + rx.URL},
		"--scrape-interval", "2s", "--scrape-timeout", "2s", "--kubelet-insecure-tls", "--group-window", "0",
		"--cause-min-history", "1m", "--leak-window", "2m", "--thrashing-window", "30s")

	// Before anything fails: the proactive alerts name the leak, and when
	// it will fill the node (16 GiB at 300 MiB a minute: within the hour).
	leakMsg := waitMessage(t, ctx, rx, 120*time.Second, "emails/Deployment/unanswered-emails leaks")
	if !strings.Contains(header(leakMsg), "GiB/h") {
		t.Errorf("leak alert: %q", header(leakMsg))
	}
	waitMessage(t, ctx, rx, 60*time.Second, "emails/Deployment/unanswered-emails will exhaust node "+victim+"'s memory")
	if n := count(rx, "frontend leaks"); n != 0 {
		t.Errorf("the steady frontend was called a leak %d times", n)
	}

	// 80 s of history, then the node thrashes: its major-page-fault counter
	// climbs by 60,000 in a few seconds.
	time.Sleep(20 * time.Second)
	for i, v := range []int{20000, 40000, 60000} {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, simcluster.AnnotationPgMajFault, v)
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, victim, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			time.Sleep(2 * time.Second)
		}
	}
	time.Sleep(5 * time.Second)
	waitMessage(t, ctx, rx, 60*time.Second, victim+" is thrashing")
	if err := c.FailNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	for _, title := range []string{"early warning: " + victim, victim + " is down"} {
		m := waitMessage(t, ctx, rx, 120*time.Second, title)
		raw := string(m.Raw)
		for _, want := range []string{"Likely cause: emails/Deployment/unanswered-emails", "no memory limit", "GiB/h", "major page faults"} {
			if !strings.Contains(raw, want) {
				t.Errorf("%q does not say %q:\n%s", header(m), want, raw)
			}
		}
		if strings.Contains(raw, "frontend —") {
			t.Errorf("%q blames the steady frontend:\n%s", header(m), raw)
		}
	}

	r := nodewatch(t, ctx, nil, nil, "incidents", "-o", "json", "--nodewatch-url", "http://"+d.addr)
	var incs []incident.Incident
	if err := json.Unmarshal([]byte(r.stdout), &incs); err != nil {
		t.Fatalf("incidents -o json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	// The daemon asked the kubelet for its log when the node failed. The
	// simulated nodes are at 127.0.0.1, and the API server does not proxy to
	// loopback node addresses, so the incident says why it has none.
	said := regexp.MustCompile(`^` + victim + `'s kubelet log cannot be read through the API server: it does not proxy to the node's address`)
	found := false
	for _, i := range incs {
		if i.Node == victim && i.Cause != nil {
			found = true
			if i.Cause.Name != "unanswered-emails" || i.Cause.MemoryLimit != nil || i.Cause.GrowthBytesPerHour < 10<<30 || i.Cause.PageFaultsPerSecond <= 0 {
				t.Errorf("incident %s's cause: %+v", i.ID, i.Cause)
			}
			if len(i.KubeletLog) != 0 || !said.MatchString(i.KubeletLogMissing) {
				t.Errorf("incident %s's kubelet log on the simulated cluster: %q, missing %q; want why there is none", i.ID, i.KubeletLog, i.KubeletLogMissing)
			}
		}
	}
	if !found {
		t.Errorf("no incident of %s carries a likely cause: %s", victim, r.stdout)
	}

	// nodewatch explain: the node's timeline, its cause, the leaking pod's
	// memory and the page-fault spike, from the daemon.
	r = nodewatch(t, ctx, nil, nil, "explain", "node", victim, "--since", "10m", "--nodewatch-url", "http://"+d.addr)
	for _, want := range []string{"incident NodeNotReady", "notification NodeLeaseStale", "LIKELY CAUSE", "emails/Deployment/unanswered-emails", "emails/unanswered-emails-", "MAJOR PAGE FAULTS/s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("explain node %s lacks %q:\n%s%s", victim, want, r.stdout, r.stderr)
		}
	}
	// With cluster access it also asks the kubelet for its own log through
	// the API server's node proxy; the API server refuses (loopback node
	// address), and explain says so rather than fail.
	r = nodewatch(t, ctx, nil, nil, "explain", "node", victim, "--since", "10m", "-o", "json", "--nodewatch-url", "http://"+d.addr, "--kubeconfig", c.Kubeconfig)
	var x struct {
		KubeletLog []string
		Missing    []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &x); err != nil || r.code != 0 {
		t.Fatalf("explain -o json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	said = regexp.MustCompile(`^kubelet log: ` + victim + `'s kubelet log cannot be read through the API server: it does not proxy to the node's address`)
	if len(x.KubeletLog) != 0 || !slices.ContainsFunc(x.Missing, said.MatchString) {
		t.Errorf("explain's kubelet log on the simulated cluster: %q, missing %q; want it to say why there is none", x.KubeletLog, x.Missing)
	}
	t.Logf("explain on the simulated cluster: %q", x.Missing)
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodewatch/nodewatch/internal/detect"
	"github.com/nodewatch/nodewatch/internal/incident"
	"github.com/nodewatch/nodewatch/internal/simcluster"
	"github.com/nodewatch/nodewatch/internal/testenv"
)

// artifacts is where the browser tests leave their screenshots (git-ignored).
const artifacts = "artifacts"

// xssMessage is an event message that would run script if the dashboard
// ever treated data as markup.
const xssMessage = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> memory is low`

// TestDashboard: a daemon on the simulated cluster, a leaking pod without
// a memory limit, its node failing; every page of the dashboard, loaded in
// headless Chromium, shows the node names, the culprit and charts drawn
// with data points, shows an event message carrying markup as text, and
// makes no request beyond the daemon.
func TestDashboard(t *testing.T) {
	chromium := testenv.Chromium(t, simcluster.EnvRequire)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	c, nodes := usageCluster(t, ctx, simcluster.Options{NodeMonitorGracePeriod: 40 * time.Second}, 2, simcluster.NodeSize{Memory: "4Gi"})
	web := simcluster.Workload{Namespace: "web", Name: "frontend", Replicas: 4, MemoryRequest: "256Mi", MemoryLimit: "512Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi"}}
	emails := simcluster.Workload{Namespace: "emails", Name: "unanswered-emails", Replicas: 1,
		Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi", simcluster.AnnotationLeak: "120"}}
	if err := c.CreateDeployment(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateReplicationController(ctx, emails); err != nil {
		t.Fatal(err)
	}
	for _, w := range []simcluster.Workload{web, emails} {
		if err := c.WaitPodsRunning(ctx, w, int(w.Replicas)); err != nil {
			t.Fatal(err)
		}
	}
	// The culprit's node is the one to fail.
	var victim, other, culprit string
	for _, n := range nodes {
		pods, err := c.PodsOnNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if name, ok := strings.CutPrefix(p, "emails/"); ok && strings.HasPrefix(name, "unanswered-emails-") {
				victim, culprit = n, name
			}
		}
	}
	for _, n := range nodes {
		if n != victim {
			other = n
		}
	}
	if victim == "" || other == "" {
		t.Fatalf("no node runs the leaking pod: %v", nodes)
	}

	d := startDaemon(t, c.Kubeconfig, t.TempDir(), nil, "--scrape-interval", "2s", "--scrape-timeout", "2s", "--kubelet-insecure-tls")
	base := "http://" + d.addr

	// An event whose message carries markup, about the node that will fail.
	at := metav1.Now()
	if _, err := c.Client.CoreV1().Events("default").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "xss-"},
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: victim, APIVersion: "v1"},
		Type:           corev1.EventTypeWarning, Reason: "SystemOOM", Message: xssMessage, Count: 1,
		FirstTimestamp: at, LastTimestamp: at, Source: corev1.EventSource{Component: "dashboard-test"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The victim thrashes: its major-page-fault counter climbs faster and
	// faster until it fails.
	for i := 1; i <= 15; i++ {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, simcluster.AnnotationPgMajFault, 500*i*i)
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, victim, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
	}
	if err := c.FailNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	var failure incident.Incident
	waitFor(t, ctx, 2*time.Minute, "the NodeNotReady incident", func() bool {
		resp, err := http.Get(base + "/api/v1/incidents")
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		var incs []incident.Incident
		if json.NewDecoder(resp.Body).Decode(&incs) != nil {
			return false
		}
		for _, i := range incs {
			if i.Rule == detect.NodeNotReady && i.Node == victim {
				failure = i
				return true
			}
		}
		return false
	})

	// The browser: headless, a fresh profile, nothing in the background.
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 1600))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting Chromium (%s): %v", chromium, err)
	}
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("starting Chromium (%s): %v", chromium, err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	type pageState struct {
		Loaded string  `json:"loaded"`
		Text   string  `json:"text"`
		Points []int   `json:"points"`
		Images int     `json:"images"`
		XSS    any     `json:"xss"`
		Charts int     `json:"charts"`
		Width  float64 `json:"width"`
	}
	const probe = `({
		loaded: document.body.dataset.loaded || "",
		text: document.querySelector("main").innerText,
		points: Array.from(document.querySelectorAll("svg.chart-svg path.series")).map(p => +p.getAttribute("data-points")),
		images: document.querySelectorAll("img, script:not([src])").length,
		xss: window.__xss === undefined ? null : window.__xss,
		charts: document.querySelectorAll("svg.chart-svg").length,
		width: document.documentElement.scrollWidth,
	})`
	pages := []struct {
		name, path string
		want       []string
	}{
		{"overview", "/?range=15m", []string{victim, other, culprit, "Fastest-growing pods", "open incidents"}},
		{"node", "/nodes/" + url.PathEscape(victim) + "?range=15m", []string{victim, culprit, "frontend", xssMessage, "NodeNotReady"}},
		{"pod", "/pods/emails/" + url.PathEscape(culprit) + "?range=15m", []string{victim, "ReplicationController/unanswered-emails", "Leak verdict", "no limit"}},
		{"incidents", "/incidents?range=15m", []string{victim, "unanswered-emails", "Suspects"}},
		{"incident", "/incidents/" + url.PathEscape(failure.ID) + "?range=15m", []string{victim, culprit, "Top suspect on this node", "ReplicationController emails/unanswered-emails", xssMessage,
			// The API server does not proxy to the simulated nodes' loopback
			// address: the page says why there is no kubelet log.
			"Kubelet log", victim + "'s kubelet log cannot be read through the API server"}},
		// The audit finds the culprit without requests or limits, with the
		// kubectl command that fixes it.
		{"audit", "/audit", []string{"Findings", "ReplicationController/unanswered-emails", "its only pod is BestEffort",
			"kubectl set resources replicationcontroller/unanswered-emails -n emails --requests=cpu=CPU,memory=REQUEST --limits=memory=LIMIT"}},
		// The daemon has minutes of history: size from what there is.
		{"recommendations", "/recommendations?range=15m&min-history=30s&min-samples=10", []string{"Deployment/frontend", "ReplicationController/unanswered-emails",
			"kubectl patch deployment/frontend -n web --type strategic -p '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"frontend\"", "All patches"}},
	}
	noCharts := map[string]bool{"incidents": true, "audit": true, "recommendations": true}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			pctx, cancel := context.WithTimeout(bctx, 30*time.Second)
			defer cancel()
			if err := chromedp.Do(pctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded]`))); err != nil {
				t.Fatalf("loading %s: %v", p.path, err)
			}
			st, err := chromedp.Run(pctx, chromedp.Evaluate[pageState](probe))
			if err != nil {
				t.Fatalf("reading %s: %v", p.path, err)
			}
			shot, err := chromedp.Run(pctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot of %s: %v", p.path, err)
			}
			if err := os.WriteFile(filepath.Join(artifacts, "dashboard-"+p.name+".png"), shot, 0o644); err != nil {
				t.Error(err)
			}
			if st.Loaded == "error" {
				t.Fatalf("%s failed to load:\n%s", p.path, st.Text)
			}
			for _, w := range p.want {
				if !strings.Contains(st.Text, w) {
					t.Errorf("%s does not show %q; it shows:\n%s", p.path, w, st.Text)
				}
			}
			if !noCharts[p.name] {
				most := 0
				for _, n := range st.Points {
					most = max(most, n)
				}
				if st.Charts == 0 || most < 5 {
					t.Errorf("%s: %d charts, series with %v data points; want a chart with at least 5", p.path, st.Charts, st.Points)
				}
			}
			if st.Images != 0 || st.XSS != nil {
				t.Errorf("%s: markup from the data became elements (%d img/inline scripts, window.__xss=%v)", p.path, st.Images, st.XSS)
			}
		})
	}

	// The recommendations: the leak is flagged and gets no patch; the
	// frontend's kubectl patch command is copied to the clipboard with its
	// button.
	t.Run("recommendation patch to copy", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		origin := base
		for _, perm := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(cctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: perm}, Setting: browser.PermissionSettingGranted, Origin: origin}); err != nil {
				t.Fatalf("granting %s: %v", perm, err)
			}
		}
		if err := chromedp.Do(cctx, chromedp.Navigate(base+"/recommendations?range=15m&min-history=30s&min-samples=10"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-loaded]`))); err != nil {
			t.Fatal(err)
		}
		type rows struct {
			Leak    string `json:"leak"`
			Command string `json:"command"`
		}
		r, err := chromedp.Run(cctx, chromedp.Evaluate[rows](`({
			leak: Array.from(document.querySelectorAll('tr.container-row[data-workload="emails/ReplicationController/unanswered-emails"]')).map(r => r.innerText).join("\n"),
			command: (document.querySelector('tr.patch-row[data-workload="web/Deployment/frontend"] pre.command') || {}).textContent || "",
		})`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Leak, "LEAK") || !strings.Contains(r.Leak, "leak: fix the leak first") {
			t.Errorf("the leaking unanswered-emails is not flagged: %q", r.Leak)
		}
		if !strings.HasPrefix(r.Command, "kubectl patch deployment/frontend -n web --type strategic -p '") {
			t.Fatalf("frontend's patch command: %q", r.Command)
		}
		if err := chromedp.Do(cctx, chromedp.Click(chromedp.CSS(`tr.patch-row[data-workload="web/Deployment/frontend"] button.copy`))); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(cctx, chromedp.Poll[bool](`(document.querySelector('tr.patch-row[data-workload="web/Deployment/frontend"] button.copy').dataset.copied || "") !== ""`,
			chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatalf("the copy button did nothing: %v", err)
		}
		copied, err := chromedp.Run(cctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil || copied != r.Command {
			t.Errorf("clipboard %q (%v), want the command %q", copied, err, r.Command)
		}
	})

	// The time-range picker reloads the page's data for the new range.
	rctx, cancelRange := context.WithTimeout(bctx, 30*time.Second)
	defer cancelRange()
	err := chromedp.Do(rctx, chromedp.Navigate(base+"/nodes/"+url.PathEscape(victim)+"?range=15m"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded]`)))
	var before, after chromedp.AttributeResult
	if err == nil {
		before, err = chromedp.Run(rctx, chromedp.AttributeValue(chromedp.CSS("body"), "data-loaded"))
	}
	if err == nil {
		err = chromedp.Do(rctx, chromedp.SetValue(chromedp.ID("range"), "1h"))
	}
	if err == nil {
		_, err = chromedp.Run(rctx, chromedp.Evaluate[bool](`document.getElementById("range").dispatchEvent(new Event("change"))`))
	}
	if err == nil {
		_, err = chromedp.Run(rctx, chromedp.Poll[bool](`document.body.dataset.loaded !== `+fmt.Sprintf("%q", before.Value)+
			` && location.search.includes("range=1h")`, chromedp.WithPollingTimeout(10*time.Second)))
	}
	if err == nil {
		after, err = chromedp.Run(rctx, chromedp.AttributeValue(chromedp.CSS("body"), "data-loaded"))
	}
	if err != nil || after.Value == before.Value || after.Value == "error" {
		t.Errorf("the range picker did not reload the page: %v (loaded %q → %q)", err, before.Value, after.Value)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requests) < len(pages)*3 {
		t.Errorf("saw only %d requests: %v", len(requests), requests)
	}
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "data" && u.Host != d.addr) {
			t.Errorf("the dashboard requested %s, beyond the daemon at %s", r, d.addr)
		}
	}
}

package dashboard

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nodewatch/nodewatch/internal/testenv"
)

// EnvRequireBrowser, when set (make unit), like $CI=true makes a missing Chromium a
// failure of the dashboard's browser tests instead of a skip.
const EnvRequireBrowser = "NODEWATCH_REQUIRE_BROWSER"

// browser starts headless Chromium with a fresh profile and nothing in the
// background, or skips without it (fails under $CI or $NODEWATCH_REQUIRE_BROWSER).
func browser(t *testing.T) context.Context {
	t.Helper()
	chromium := testenv.Chromium(t, EnvRequireBrowser)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium (%s): %v", chromium, err)
	}
	return ctx
}

// TestBrowserRecommendationsPending: in Chromium, the recommendations page
// whose report is still being computed says so at once, not loaded, and
// shows the report by itself once it is there.
func TestBrowserRecommendationsPending(t *testing.T) {
	bctx := browser(t)
	f := newFixture(t)
	hist := &gatedHistory{DB: f.history, gate: make(chan struct{})}
	d, err := Handler(Options{Cluster: f.cluster, Incidents: f.incidents, History: hist, Now: func() time.Time { return now }, RecommendWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	defer d.Close()
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()
	type state struct {
		Text   string `json:"text"`
		Loaded string `json:"loaded"`
	}
	const probe = `({text: document.querySelector("main").innerText, loaded: document.body.dataset.loaded || ""})`
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/recommendations?range=3h"+end), chromedp.WaitVisible(chromedp.CSS(`body[data-pending]`))); err != nil {
		t.Fatalf("the pending page: %v", err)
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[state](probe))
	if err != nil {
		t.Fatal(err)
	}
	pendingText, loaded := st.Text, st.Loaded
	mustf(t, strings.Contains(pendingText, "Computing the recommendations for every namespace from 3h of history") && loaded == "",
		"while computing, the page shows %q (loaded %q)", pendingText, loaded)
	close(hist.gate)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`body[data-loaded]`))); err != nil {
		t.Fatalf("the report after the computation: %v", err)
	}
	st, err = chromedp.Run(ctx, chromedp.Evaluate[state](probe))
	if err != nil {
		t.Fatal(err)
	}
	report := st.Text
	mustf(t, strings.Contains(report, "Deployment/frontend") && strings.Contains(report, "kubectl patch deployment/frontend -n web") && !strings.Contains(report, "Computing"),
		"once computed, the page shows:\n%s", report)
}

package dashboard

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nodewatch/nodewatch/internal/testenv"
)

// BenchmarkBrowser1000Nodes: each page at 1,000 nodes (fixture1000) loaded
// in headless Chromium, from navigating to its address to the page built
// from its data (body[data-loaded]): the HTML, the script, the JSON (the
// server side of BenchmarkPages1000Nodes) and the drawing of its tables
// and charts. Reports p50 and max per page. The recommendations come from
// the page's one-minute cache after the first load (the testing package
// runs each sub-benchmark once before timing it), as after the daemon's
// warm-up (Dashboard.WarmRecommendations); recommendations-first-view is
// the same page for a range no report is cached for (coldEnd), as a first
// view without the warm-up: the page waits for the report, asking again
// while the server says it is pending. Needs Chromium
// ($NODEWATCH_CHROMIUM, or chromium on $PATH); skipped without it (see testenv).
func BenchmarkBrowser1000Nodes(b *testing.B) {
	chromium := testenv.Chromium(b, EnvRequireBrowser)
	srv := httptest.NewServer(fixture1000(b, Options{}))
	defer srv.Close()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(b.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 1600))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatalf("starting Chromium (%s): %v", chromium, err)
	}
	type browserPage struct {
		name, path string
		cold       bool // every load a range no report is cached for
	}
	var pages []browserPage
	for _, page := range pages1000 {
		path := strings.TrimPrefix(page.path, "/api/ui")
		if page.name == "overview" {
			path = strings.Replace(path, "/overview", "/", 1)
		}
		pages = append(pages, browserPage{page.name, path, false})
		if page.name == "recommendations" {
			pages = append(pages, browserPage{page.name + "-first-view", path, true})
		}
	}
	for _, page := range pages {
		path := page.path
		b.Run(page.name, func(b *testing.B) {
			var lat []time.Duration
			load := func() time.Duration {
				ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
				defer cancel()
				end := fmt.Sprintf("&end=%d", now.Unix())
				if page.cold {
					end = coldEnd()
				}
				t0 := time.Now()
				if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+path+end), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded]`))); err != nil {
					b.Fatalf("loading %s: %v", path, err)
				}
				d := time.Since(t0)
				state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.loaded === "error" ? "error: " + document.querySelector("main").innerText : document.querySelector("main").innerText`))
				if err != nil || strings.HasPrefix(state, "error") {
					b.Fatalf("%s: %v %s", path, err, state)
				}
				return d
			}
			for range b.N {
				lat = append(lat, load())
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
		})
	}
}

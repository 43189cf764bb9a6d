// Package amtest runs a real Prometheus Alertmanager for tests: the binary
// hack/build-peers.sh builds (v0.31.1, from the Go module proxy), started on
// a free loopback port with a given configuration and killed when the test
// ends. Contract tests of the alertmanager sink and end-to-end tests of
// `nodewatch run --alertmanager-url` use it; nothing here is a fake.
//
// Without the binary a test skips, unless $NODEWATCH_REQUIRE_PEERS is set
// (CI, make test), where it fails: CI may not skip the real peer.
package amtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/peers"
)

// Environment variables read by Binary.
const (
	// EnvRequire, when set, makes a missing binary a test failure.
	EnvRequire = peers.EnvRequire
	// EnvBin names the binary, overriding hack/build-peers.sh's cache.
	EnvBin = "NODEWATCH_ALERTMANAGER_BIN"
)

// Alert is what GET /api/v2/alerts returns for one alert (the part of the
// v2 API's GettableAlert tests read).
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		// State is "active", "suppressed" or "unprocessed".
		State string `json:"state"`
	} `json:"status"`
}

// Binary returns the Alertmanager binary: $NODEWATCH_ALERTMANAGER_BIN, or
// the one hack/build-peers.sh built (see peers.Binary: a missing binary
// skips t, or fails it when $NODEWATCH_REQUIRE_PEERS is set).
func Binary(t testing.TB) string {
	t.Helper()
	return peers.Binary(t, "alertmanager", EnvBin)
}

// Start runs bin with config (alertmanager.yml's contents) on a free
// loopback port, without clustering, and returns its base URL
// (http://127.0.0.1:<port>) once /-/ready answers. The process is killed
// when t ends (and by the kernel should the test binary die first, on
// Linux); its log is printed if t failed.
func Start(t testing.TB, bin, config string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return peers.Start(t, "Alertmanager", bin, "/-/ready", func(addr string, attempt int) []string {
		return []string{
			"--config.file=" + cfg,
			"--storage.path=" + filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--web.listen-address=" + addr,
			"--cluster.listen-address=",
			"--log.level=debug",
		}
	})
}

// Alerts lists the alerts Alertmanager at base holds and has not resolved
// (GET /api/v2/alerts: an alert whose endsAt has passed is not listed),
// narrowed by label matchers such as `source="nodewatch"` (all must match;
// none lists every alert). It fails t if Alertmanager does not answer.
func Alerts(t testing.TB, base string, filters ...string) []Alert {
	t.Helper()
	u := strings.TrimSuffix(base, "/") + "/api/v2/alerts"
	if len(filters) > 0 {
		u += "?" + url.Values{"filter": filters}.Encode()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }() // the reply is read; its close has nothing to report
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	var alerts []Alert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatalf("GET %s: decoding the alerts: %v", u, err)
	}
	return alerts
}

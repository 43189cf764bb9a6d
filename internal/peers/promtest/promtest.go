// Package promtest runs a real Prometheus for tests: the binary
// hack/build-peers.sh builds (v0.316.0 = Prometheus 3.16, from the Go module
// proxy), on a free loopback port with a given configuration and its
// remote-write receiver on, killed when the test ends. End-to-end tests of
// `nodewatch run --prometheus-url` and `--remote-write-url` use it.
package promtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nodewatch/nodewatch/internal/peers"
)

// EnvBin names the binary, overriding hack/build-peers.sh's cache.
const EnvBin = "NODEWATCH_PROMETHEUS_BIN"

// Binary returns the Prometheus binary (see peers.Binary).
func Binary(t testing.TB) string {
	t.Helper()
	return peers.Binary(t, "prometheus", EnvBin)
}

// Start runs bin with config (prometheus.yml's contents) and returns its
// base URL once /-/ready answers.
func Start(t testing.TB, bin, config string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return peers.Start(t, "Prometheus", bin, "/-/ready", func(addr string, attempt int) []string {
		return []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--web.listen-address=" + addr,
			"--web.enable-remote-write-receiver",
			"--log.level=debug",
		}
	})
}

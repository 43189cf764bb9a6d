// Package testenv decides whether a test that lacks something from outside
// Go — the simulated cluster, a real peer, Chromium, kubectl — may skip. On a
// developer's machine it skips and says how to get the missing piece; in CI
// ($CI=true, as .ci/run runs) or with the test's $NODEWATCH_REQUIRE_* set
// (make test) it fails, so CI never silently skips a real-component test.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// EnvChromium names the Chromium to use; without it Chromium is looked for
// as chromium (Debian's package), chromium-browser, google-chrome or
// headless_shell on $PATH.
const EnvChromium = "NODEWATCH_CHROMIUM"

// Strict reports whether a test may not skip: $CI is true or $env is set.
func Strict(env string) bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci || os.Getenv(env) != ""
}

// Missing ends t for a missing msg: a failure when Strict(env), else a skip.
func Missing(t testing.TB, env, msg string) {
	t.Helper()
	if Strict(env) {
		t.Fatalf("%s; $CI or $%s is set, so this test may not skip", msg, env)
	}
	t.Skipf("%s (set $%s to make this a failure)", msg, env)
}

// Chromium returns the path of headless Chromium, or ends t by Missing.
func Chromium(t testing.TB, env string) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"}
	if p := os.Getenv(EnvChromium); p != "" {
		names = []string{p}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, env, fmt.Sprintf("no Chromium for the browser tests (looked for %s; apt-get install -y chromium, or set $%s)", strings.Join(names, ", "), EnvChromium))
	return ""
}

// Ending runs f as a test would run it, on a testing.TB that records how f
// ended it: "skip" or "fatal" with the message, or "" when f returned. It is
// for testing helpers that skip or fail the test that calls them.
func Ending(t testing.TB, f func(testing.TB)) (ended, msg string) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.ended, r.msg
}

// recorder is a testing.TB whose skips and failures end only f.
type recorder struct {
	testing.TB
	ended, msg string
}

func (r *recorder) Helper() {}
func (r *recorder) end(how, msg string) {
	r.ended, r.msg = how, msg
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any)                  { r.end("skip", fmt.Sprint(args...)) }
func (r *recorder) Skipf(format string, args ...any)  { r.end("skip", fmt.Sprintf(format, args...)) }
func (r *recorder) Fatal(args ...any)                 { r.end("fatal", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.end("fatal", fmt.Sprintf(format, args...)) }

// Helm returns the helm hack/build-helm.sh builds into the cache
// ($NODEWATCH_HELM overrides), or ends t by Missing under env.
func Helm(t testing.TB, env string) string {
	t.Helper()
	if p := os.Getenv("NODEWATCH_HELM"); p != "" {
		return p
	}
	cache := os.Getenv("NODEWATCH_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "nodewatch")
	}
	p := filepath.Join(cache, "tools", "bin", "helm")
	if _, err := os.Stat(p); err != nil { //nolint:gosec // the cache dir of this machine, from its own environment
		Missing(t, env, "no helm at "+p+" (make helm builds it)")
	}
	return p
}

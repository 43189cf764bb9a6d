// Package peers finds the real programs nodewatch's contract and end-to-end
// tests talk to — Alertmanager, Prometheus — as hack/build-peers.sh built
// them from the Go module proxy into ~/.cache/nodewatch/peers. Nothing here
// builds: a test that finds no binary skips, or fails when
// $NODEWATCH_REQUIRE_PEERS is set (CI, make test), so CI never skips a real
// peer.
package peers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// EnvRequire, when set, makes a missing binary a test failure.
const EnvRequire = "NODEWATCH_REQUIRE_PEERS"

// Binary returns the path of peer name: $envBin when set, else the one
// hack/build-peers.sh linked (asked with NODEWATCH_PEERS_CHECK_ONLY=1, so it
// never builds here). When there is none it skips t, or fails it when
// $NODEWATCH_REQUIRE_PEERS is set.
func Binary(t testing.TB, name, envBin string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; build it with: bash hack/build-peers.sh (or make peers)"
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("$%s is set and %s", EnvRequire, msg)
		}
		t.Skipf("%s (set $%s to make this a failure)", msg, EnvRequire)
	}
	if bin := os.Getenv(envBin); bin != "" {
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			missing("$%s=%s is not a file", envBin, bin)
		}
		return bin
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "hack", "build-peers.sh")
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "NODEWATCH_PEERS_CHECK_ONLY=1")
	// The script exits 1 when any peer is missing; this one may be there.
	out, _ := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[len(lines)-1] == "" {
		missing("%s printed no directory", script)
	}
	bin := filepath.Join(lines[len(lines)-1], name)
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		missing("the %s binary is not built (%s is missing)", name, bin)
	}
	return bin
}

// RepoRoot is the checkout this file is in, so Binary works from any
// package's directory; the working directory is the fallback for builds
// whose file paths are not real (-trimpath).
func RepoRoot() (string, error) {
	const marker = "hack/build-peers.sh"
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..")
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("peers: " + marker + " found neither next to this package's source nor above the working directory")
		}
		dir = parent
	}
}

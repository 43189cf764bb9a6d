// Package peers finds the real programs nodewatch's contract and end-to-end
// tests talk to — Alertmanager, Prometheus — as hack/build-peers.sh built
// them from the Go module proxy into ~/.cache/nodewatch/peers. Nothing here
// builds: a test that finds no binary skips, or fails when $CI is true or
// $NODEWATCH_REQUIRE_PEERS is set (make test), so CI never skips a real
// peer.
package peers

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/testenv"
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
		testenv.Missing(t, EnvRequire, msg)
	}
	if bin := os.Getenv(envBin); bin != "" {
		if st, err := os.Stat(bin); err != nil || st.IsDir() { //nolint:gosec // G703: the developer's own override of the binary
			missing("$%s=%s is not a file", envBin, bin)
		}
		return bin
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "hack", "build-peers.sh")
	cmd := exec.Command("bash", script) //nolint:gosec // G204: the repository's own build script
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

// Start runs a peer on a free loopback port and returns its base URL
// (http://127.0.0.1:<port>) once GET readyPath answers 200. args gives the
// command line for an address and an attempt number (use it to name data
// dirs: another process may take the port between the probe and the peer's
// bind, so up to three ports are tried). The process is killed when t ends
// (and by the kernel should the test binary die first, on Linux); its log
// is printed if t failed.
func Start(t testing.TB, name, bin, readyPath string, args func(addr string, attempt int) []string) string {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for attempt := range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, attempt))
		logFile, err := os.Create(logPath) //nolint:gosec // G304: in the test's temporary directory
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, args(addr, attempt)...) //nolint:gosec // G204: the peer hack/build-peers.sh built
		cmd.Stdout, cmd.Stderr = logFile, logFile
		setPdeathsig(cmd)
		if err := cmd.Start(); err != nil {
			_ = logFile.Close() // the start error is the one to report
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
			_ = logFile.Close() // the peer wrote the log through its own descriptor
		}
		base := "http://" + addr
		if lastErr = waitReady(base+readyPath, exited, 60*time.Second); lastErr == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					b, _ := os.ReadFile(logPath) //nolint:gosec // G304: the peer's log, written above
					t.Logf("%s's log (%s):\n%s", name, logPath, Tail(b, 16000))
				}
			})
			return base
		}
		stop()
		b, _ := os.ReadFile(logPath) //nolint:gosec // G304: the peer's log, written above
		t.Logf("%s attempt %d on %s: %v\n%s", name, attempt+1, addr, lastErr, Tail(b, 4000))
	}
	t.Fatalf("%s did not become ready: %v", name, lastErr)
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }() // only its port was wanted
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(u string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		resp, err := client.Get(u)
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", u, resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Tail is the last n bytes of b.
func Tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

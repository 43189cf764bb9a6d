// Package e2e runs nodewatch's binary against the real simulated cluster
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok).
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodewatchBin is the binary under test, built once by TestMain.
var nodewatchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodewatch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	nodewatchBin = filepath.Join(dir, "nodewatch")
	build := exec.Command("go", "build", "-o", nodewatchBin, "../../cmd/nodewatch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building nodewatch:", err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is one nodewatch run.
type result struct {
	stdout, stderr string
	code           int
}

// nodewatch runs the binary with args and extra environment.
func nodewatch(t *testing.T, ctx context.Context, env []string, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodewatchBin, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running nodewatch %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

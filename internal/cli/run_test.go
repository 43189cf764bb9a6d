package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/internal/config"
)

// TestRunAuthTokenFile: `run --auth-token-file` gives the token without
// showing it in process lists, counts as a token for a listen beyond
// loopback, and is refused together with another source of the token.
// Every case stops at the configuration, before any cluster is reached.
func TestRunAuthTokenFile(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("file-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// --evaluation-interval 0s makes every run stop at validation, which
	// reports every bad field: authToken is among them unless a token was
	// read.
	invalid := []string{"run", "--listen", "0.0.0.0:0", "--evaluation-interval", "0s", "--data-dir", dir}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant []string
	}{
		{name: "no token beyond loopback", args: invalid, want: []string{"evaluationInterval", "authToken:", "--auth-token-file"}},
		{name: "token from the file", args: append(invalid, "--auth-token-file", token), want: []string{"evaluationInterval"}, notWant: []string{"authToken"}},
		{name: "with --auth-token", args: append(invalid, "--auth-token-file", token, "--auth-token", "flag-s3cret"), want: []string{"--auth-token and --auth-token-file"}},
		{name: "with the environment", args: append(invalid, "--auth-token-file", token), env: map[string]string{config.EnvAuthToken: "env-s3cret"}, want: []string{"$" + config.EnvAuthToken}},
		{name: "missing file", args: append(invalid, "--auth-token-file", filepath.Join(dir, "nope")), want: []string{"authTokenFile:", filepath.Join(dir, "nope")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, tc.env, "", tc.args...)
			if code != ExitError {
				t.Errorf("exit %d, want %d", code, ExitError)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			for _, w := range append(tc.notWant, "s3cret") {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr says %q:\n%s", w, stderr)
				}
			}
		})
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenNeedsToken: beyond loopback the dashboard and APIs need a token
// or an explicit --insecure-listen, and the error names the field.
func TestListenNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		name, listen, token string
		insecure            bool
		wantErr             bool
	}{
		{name: "loopback IPv4", listen: "127.0.0.1:8080"},
		{name: "loopback IPv6", listen: "[::1]:8080"},
		{name: "localhost", listen: "localhost:8080"},
		{name: "all interfaces", listen: "0.0.0.0:8080", wantErr: true},
		{name: "empty host", listen: ":8080", wantErr: true},
		{name: "a LAN address", listen: "10.1.2.3:8080", wantErr: true},
		{name: "a host name", listen: "nodewatch.internal:8080", wantErr: true},
		{name: "all interfaces with a token", listen: "0.0.0.0:8080", token: "t0ken"},
		{name: "all interfaces, insecure on purpose", listen: "0.0.0.0:8080", insecure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Listen, c.AuthToken, c.InsecureListen = tc.listen, tc.token, tc.insecure
			err := c.Validate()
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "authToken:") || !strings.Contains(err.Error(), "--insecure-listen") {
					t.Fatalf("Validate() = %v, want an authToken error naming --insecure-listen", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// TestAuthTokenFromEnv: the token is a secret, read from the environment
// unless given; the YAML cannot carry it.
func TestAuthTokenFromEnv(t *testing.T) {
	c := Default()
	env := map[string]string{EnvAuthToken: "from-env"}
	if err := c.LoadSecrets(func(k string) string { return env[k] }); err != nil || c.AuthToken != "from-env" {
		t.Fatalf("AuthToken %q, err %v; want it from $%s", c.AuthToken, err, EnvAuthToken)
	}
	c.AuthToken = "from-flag"
	if err := c.LoadSecrets(func(k string) string { return env[k] }); err != nil || c.AuthToken != "from-flag" {
		t.Fatalf("AuthToken %q, err %v; a flag wins over the environment", c.AuthToken, err)
	}
	path := t.TempDir() + "/c.yaml"
	if err := os.WriteFile(path, []byte("authToken: in-yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := Default()
	if err := y.LoadFile(path); err == nil {
		t.Error("authToken in the YAML was accepted")
	}
}

// TestAuthTokenFile: the token can come from a file (kept out of process
// lists), which must then be its only source, and a file that cannot give
// a token is an error naming it.
func TestAuthTokenFile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		content   string
		noFile    bool // the file does not exist
		flag, env string
		want      string
		wantErr   []string
		namesFile bool
	}{
		{name: "newline dropped", content: "s3cret-token\n", want: "s3cret-token"},
		{name: "CRLF and spaces dropped", content: "s3cret token \r\n", want: "s3cret token"},
		{name: "with --auth-token", content: "file-s3cret\n", flag: "flag-s3cret", wantErr: []string{"authTokenFile:", "--auth-token and --auth-token-file"}},
		{name: "with the environment", content: "file-s3cret\n", env: "env-s3cret", wantErr: []string{"authTokenFile:", "$" + EnvAuthToken}},
		{name: "empty", content: "\n", wantErr: []string{"authTokenFile:", "is empty"}, namesFile: true},
		{name: "missing", noFile: true, wantErr: []string{"authTokenFile:", "no such file"}, namesFile: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.AuthToken = tc.flag
			c.AuthTokenFile = filepath.Join(t.TempDir(), "token")
			if !tc.noFile {
				c.AuthTokenFile = write(t, "token", tc.content)
			}
			err := c.LoadSecrets(func(k string) string { return map[string]string{EnvAuthToken: tc.env}[k] })
			if tc.wantErr == nil {
				if err != nil || c.AuthToken != tc.want {
					t.Fatalf("AuthToken %q, err %v; want %q", c.AuthToken, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, AuthToken %q", c.AuthToken)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if tc.namesFile && !strings.Contains(err.Error(), c.AuthTokenFile) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error repeats the token: %v", err)
			}
		})
	}

	// The file's name, unlike the token, may be in the YAML.
	c := Default()
	if err := c.LoadFile(write(t, "c.yaml", "authTokenFile: /etc/nodewatch/token\n")); err != nil || c.AuthTokenFile != "/etc/nodewatch/token" {
		t.Errorf("authTokenFile from the YAML: %q, %v", c.AuthTokenFile, err)
	}
}

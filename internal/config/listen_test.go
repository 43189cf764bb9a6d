package config

import (
	"os"
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
